// The owner's sharing controls for a live session's tab: who else is on it
// (watching, or allowed to type), Share (a user, read-only or may type),
// Remove a participant, and Un-share an invitation nobody used yet. The
// gateway's share routes are the same for every protocol; the desktop tab
// uses these controls, and the terminal tab (laid out around its own bar)
// the same state and actions through `useSharing`.

import { useEffect, useRef, useState } from "preact/hooks";

import { type Participant, api } from "../api";

/** Names this browser shared sessions with before: the first suggestions
 * (the same list the terminal tab keeps). */
const SHARED_WITH = "gatehouse.shared-with";
const sharedBefore = (): string[] => {
  try {
    const list = JSON.parse(localStorage.getItem(SHARED_WITH) ?? "[]");
    return Array.isArray(list) ? list.filter((u) => typeof u === "string") : [];
  } catch {
    return [];
  }
};

/** The owner's sharing state and actions for session `sessionId` (none
 * before the tab knows it): the Share dialog, its suggestions, invitations
 * this tab made and has not withdrawn (an invitation nobody used yet shows
 * nowhere else), and a note line for what happened last. Used by the
 * terminal and desktop tabs alike. */
export function useSharing(sessionId: string | null) {
  const [sharing, setSharing] = useState(false);
  const [note, setNote] = useState("");
  const [invited, setInvited] = useState<{ user: string; mode: string }[]>([]);
  const [suggestions, setSuggestions] = useState<string[]>([]);
  const dialog = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (sharing && !d.open) d.showModal();
    if (!sharing && d.open) d.close();
  }, [sharing]);

  const share = async (e: Event) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget as HTMLFormElement);
    const user = String(data.get("user")).trim();
    try {
      const mode = String(data.get("mode"));
      await api("POST", `/sessions/${sessionId}/share`, { user, mode });
      setInvited((list) => [...list.filter((i) => i.user !== user), { user, mode }]);
      localStorage.setItem(SHARED_WITH, JSON.stringify([user, ...sharedBefore().filter((u) => u !== user)].slice(0, 20)));
      setNote(`Shared with ${user}: they find it under “Shared with me”.`);
    } catch (err) {
      setNote(err instanceof Error ? err.message : String(err));
    }
    setSharing(false);
  };
  // Suggestions as the name is typed: people this browser shared with
  // before, then the gateway's answer for the typed prefix (2+ characters;
  // it names at most 10 active users, and only to the session's owner).
  const suggest = (e: Event) => {
    const input = e.target as HTMLInputElement;
    const typed = input.value.trim().toLowerCase();
    const before = sharedBefore().filter((u) => u.toLowerCase().startsWith(typed));
    setSuggestions(before.slice(0, 10));
    if (typed.length < 2 || !sessionId) return;
    api<{ users: string[] }>("GET", `/sessions/${sessionId}/share/suggestions?q=${encodeURIComponent(typed)}`).then(
      ({ users }) => {
        // Answers can arrive out of order: only the one for what the input
        // holds now may replace the list.
        if (input.value.trim().toLowerCase() !== typed) return;
        setSuggestions([...new Set([...before, ...users])].slice(0, 10));
      },
      // Not a name's start (400) or the session just ended: no suggestions.
      () => undefined,
    );
  };
  // Removing someone who joined by invitation withdraws the invitation too.
  const remove = (p: Participant) =>
    api("POST", `/sessions/${sessionId}/participants/${p.id}/remove`).then(
      () => {
        setInvited((list) => list.filter((i) => i.user !== p.user));
        setNote(`${p.user} was removed.`);
      },
      (err) => setNote(err instanceof Error ? err.message : String(err)),
    );
  const unshare = async (user: string) => {
    try {
      await api("POST", `/sessions/${sessionId}/unshare`, { user });
      setNote(`Invitation for ${user} withdrawn.`);
    } catch (err) {
      setNote(err instanceof Error ? err.message : String(err));
    }
    setInvited((list) => list.filter((i) => i.user !== user));
  };
  return { sharing, setSharing, note, invited, suggestions, dialog, share, suggest, remove, unshare };
}

/** Who is on session `sessionId` besides its owner (`people`), with the
 * owner's controls; a note line for what happened last. */
export function ShareControls({ sessionId, people }: { sessionId: string; people: Participant[] }) {
  const sharing = useSharing(sessionId);
  const { setSharing, note, invited, remove, unshare } = sharing;
  const watchers = [...new Set(people.filter((p) => p.mode === "observer").map((p) => p.user))];
  const typists = [...new Set(people.filter((p) => p.mode === "interactive").map((p) => p.user))];
  const joined = new Set(people.map((p) => p.user));

  return (
    <>
      {people.length > 0 && (
        <span role="status" class="watched" title="Others on this session">
          {watchers.length > 0 && <>Watched by {watchers.join(", ")}</>}
          {watchers.length > 0 && typists.length > 0 && " · "}
          {typists.length > 0 && <>{typists.join(", ")} can type</>}
        </span>
      )}
      {people.map((p) => (
        <button type="button" class="small" onClick={() => remove(p)} aria-label={`Remove ${p.user} (${p.mode})`}>
          Remove {p.user}
        </button>
      ))}
      {invited
        .filter((i) => !joined.has(i.user))
        .map((i) => (
          <button
            type="button"
            class="small"
            onClick={() => unshare(i.user)}
            aria-label={`Withdraw invitation for ${i.user}`}
            title={`${i.user} was invited (${i.mode === "interactive" ? "may type" : "read-only"})`}
          >
            Un-share {i.user}
          </button>
        ))}
      <button type="button" class="small" onClick={() => setSharing(true)}>
        Share
      </button>
      {note && (
        <span class="muted share-note" role="status">
          {note}
        </span>
      )}
      <ShareDialog sharing={sharing} />
    </>
  );
}

/** The Share dialog of [`useSharing`]'s state: a user (suggested as typed)
 * and read-only or may type. */
export function ShareDialog({ sharing }: { sharing: ReturnType<typeof useSharing> }) {
  const { setSharing, suggestions, dialog, share, suggest } = sharing;
  return (
    <dialog ref={dialog} onClose={() => setSharing(false)} aria-labelledby="share-title">
      <form method="dialog" onSubmit={share}>
        <h2 id="share-title">Share this session</h2>
        <label>
          User <input name="user" required list="share-users" autoComplete="off" onInput={suggest} />
        </label>
        <datalist id="share-users">
          {suggestions.map((u) => (
            <option value={u} />
          ))}
        </datalist>
        <label>
          Access
          <select name="mode">
            <option value="observer">Read-only</option>
            <option value="interactive">May type</option>
          </select>
        </label>
        <div class="actions">
          <button type="button" onClick={() => setSharing(false)}>
            Cancel
          </button>
          <button type="submit">Share</button>
        </div>
      </form>
    </dialog>
  );
}
