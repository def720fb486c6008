// Gatehouse's browser interface: a hash-routed single page. The terminal
// route fills its own tab; every other page shares the navigation bar.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

import { api, can, type Me } from "./api";
import { AdminConnections } from "./pages/admin-connections";
import { ApprovePage } from "./pages/approve";
import { AdminUsers } from "./pages/admin-users";
import { Audit } from "./pages/audit";
import { Connections } from "./pages/connections";
import { DesktopPage } from "./pages/desktop";
import { History } from "./pages/history";
import { Login, nextPath } from "./pages/login";
import { ReplayPage } from "./pages/replay";
import { ActiveSessions } from "./pages/sessions";
import { SharedWithMe } from "./pages/shared";
import { Profile } from "./pages/profile";
import { TerminalPage } from "./pages/terminal";
import { WatchPage } from "./pages/watch";
import { DesktopWatchPage } from "./pages/desktop-watch";
import "./style.css";

function useRoute(): string {
  const [route, setRoute] = useState(location.hash.slice(1) || "/connections");
  useEffect(() => {
    const onHash = () => setRoute(location.hash.slice(1) || "/connections");
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  return route;
}

/** An administration page opened by someone without its permission. */
function NoAccess() {
  return (
    <section>
      <h1>You don't have access</h1>
      <p>This page is for administrators. Ask one for access if you need it.</p>
      <p>
        <a href="#/connections">Back to My connections</a>
      </p>
    </section>
  );
}

function App() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [menu, setMenu] = useState(false);
  // Following a link closes the narrow screen's menu.
  useEffect(() => setMenu(false), [route]);
  useEffect(() => {
    api<Me>("GET", "/auth/me").then(setMe, () => setMe(null));
  }, []);

  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) {
    const onLogin = (m: Me) => {
      // Sent here to log in on the way somewhere (opening a web application):
      // go on there, as a full navigation, since it is no page of this app.
      const next = nextPath(location.search);
      if (next) {
        location.assign(next);
        return;
      }
      setMe(m);
      // An SSH login's approval link stays where it was.
      if (!location.hash.startsWith("#/approve/")) location.hash = "#/connections";
    };
    return <Login onLogin={onLogin} />;
  }

  const terminal = route.match(/^\/terminal\/([0-9a-f-]+)$/);
  if (terminal) return <TerminalPage connectionId={terminal[1]} />;
  const desktop = route.match(/^\/desktop\/([0-9a-f-]+)$/);
  if (desktop) return <DesktopPage connectionId={desktop[1]} />;
  const watch = route.match(/^\/watch\/([0-9a-f-]+)$/);
  if (watch) return <WatchPage sessionId={watch[1]} />;
  const watchDesktop = route.match(/^\/watch-desktop\/([0-9a-f-]+)$/);
  if (watchDesktop) return <DesktopWatchPage sessionId={watchDesktop[1]} />;
  const joinDesktop = route.match(/^\/join-desktop\/([0-9a-f-]+)$/);
  if (joinDesktop) return <DesktopWatchPage sessionId={joinDesktop[1]} join />;
  const joining = route.match(/^\/join\/([0-9a-f-]+)$/);
  if (joining) return <WatchPage sessionId={joining[1]} join />;

  const logout = async () => {
    await api("POST", "/auth/logout").catch(() => undefined);
    setMe(null);
  };
  const seesAll = can(me, "sessions.view");
  const links: [string, string, boolean][] = [
    ["/connections", "My connections", true],
    ["/sessions", seesAll ? "Active Sessions" : "My sessions", true],
    ["/shared", "Shared with me", true],
    ["/history", "History", true],
    ["/profile", "SSH keys", true],
    ["/admin/users", "Users", can(me, "users.manage")],
    ["/admin/connections", "Connections", can(me, "connections.manage")],
    ["/admin/audit", "Audit log", can(me, "audit.view")],
  ];
  const approve = route.match(/^\/approve\/([A-Za-z0-9_-]+)$/);
  const replay = route.match(/^\/replay\/([0-9a-f-]+)(?:\?text=(.*))?$/);
  let page;
  if (replay) page = <ReplayPage sessionId={replay[1]} text={replay[2] ? decodeURIComponent(replay[2]) : undefined} />;
  else if (approve) page = <ApprovePage id={approve[1]} />;
  else if (route === "/sessions") page = <ActiveSessions me={me} />;
  else if (route === "/history") page = <History me={me} />;
  else if (route === "/shared") page = <SharedWithMe />;
  else if (route === "/profile") page = <Profile me={me} />;
  else if (route === "/admin/users") page = can(me, "users.manage") ? <AdminUsers /> : <NoAccess />;
  else if (route === "/admin/connections") page = can(me, "connections.manage") ? <AdminConnections /> : <NoAccess />;
  else if (route === "/admin/audit") page = can(me, "audit.view") ? <Audit me={me} /> : <NoAccess />;
  else page = <Connections />;

  return (
    <div class="shell">
      <header class={`topbar ${menu ? "open" : ""}`}>
        <span class="brand">Gatehouse</span>
        <button
          type="button"
          class="menu-toggle"
          aria-expanded={menu}
          aria-controls="main-nav"
          onClick={() => setMenu(!menu)}
        >
          Menu
        </button>
        <nav aria-label="Main" id="main-nav">
          {links
            .filter(([, , shown]) => shown)
            .map(([href, label]) => (
              <a href={`#${href}`} aria-current={route === href ? "page" : undefined}>
                {label}
              </a>
            ))}
        </nav>
        <span class="whoami">
          {me.username}
          <button type="button" class="link" onClick={logout}>
            Log out
          </button>
        </span>
      </header>
      <main>{page}</main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
