// Choosing several names from a list with search: type to filter, ↓/↑ to
// move, Enter or a click to add, × to remove. The chosen names go with the
// form as hidden inputs named `name`, one each (read with FormData.getAll).
import { useState } from "preact/hooks";

interface Props {
  /** The form field name of the chosen values. */
  name: string;
  /** What is chosen, for the label: "Users", "Roles". */
  label: string;
  /** Every name that may be chosen; `null` while unknown (not loaded, or
   * the caller may not list them): then a typed name is added as typed. */
  options: string[] | null;
  initial?: string[];
}

/** A searchable multiple choice (the ARIA combobox pattern with a listbox). */
export function Picker({ name, label, options, initial = [] }: Props) {
  const [chosen, setChosen] = useState<string[]>(initial);
  const [text, setText] = useState("");
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const id = `picker-${name}`;
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const matches = (options ?? [])
    .filter((o) => !chosen.includes(o))
    .filter((o) => words.every((w) => o.toLowerCase().includes(w)))
    .slice(0, 50);
  const current = matches[Math.min(active, matches.length - 1)];

  const add = (value: string) => {
    const v = value.trim();
    if (v && !chosen.includes(v)) setChosen([...chosen, v]);
    setText("");
    setActive(0);
  };
  const remove = (value: string) => setChosen(chosen.filter((c) => c !== value));
  const onKey = (e: KeyboardEvent) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      setOpen(true);
      const n = Math.max(matches.length, 1);
      setActive((a) => (Math.min(a, n - 1) + (e.key === "ArrowDown" ? 1 : n - 1)) % n);
    } else if (e.key === "Enter") {
      // Enter chooses; it never submits the form from here.
      e.preventDefault();
      if (open && current !== undefined) add(current);
      else if (options === null) add(text);
    } else if (e.key === "Escape") {
      setOpen(false);
    } else if (e.key === "Backspace" && text === "" && chosen.length) {
      remove(chosen[chosen.length - 1]);
    }
  };

  return (
    <div class="picker">
      <label for={`${id}-input`}>{label}</label>
      <div class="picker-box">
        <ul class="chips" aria-label={`Chosen ${label.toLowerCase()}`}>
          {chosen.map((c) => (
            <li key={c} class="chip">
              <input type="hidden" name={name} value={c} />
              <span>{c}</span>
              <button type="button" class="chip-remove" aria-label={`Remove ${c}`} title={`Remove ${c}`} onClick={() => remove(c)}>
                <svg viewBox="0 0 10 10" width="10" height="10" aria-hidden="true">
                  <path d="M2 2l6 6M8 2l-6 6" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" />
                </svg>
              </button>
            </li>
          ))}
        </ul>
        <input
          id={`${id}-input`}
          role="combobox"
          aria-expanded={open && matches.length > 0}
          aria-controls={`${id}-list`}
          aria-autocomplete="list"
          aria-activedescendant={open && current !== undefined ? `${id}-opt-${matches.indexOf(current)}` : undefined}
          autoComplete="off"
          placeholder={options === null ? "type a name, Enter adds it" : "type to search"}
          value={text}
          onInput={(e) => {
            setText((e.target as HTMLInputElement).value);
            setOpen(true);
            setActive(0);
          }}
          onFocus={() => setOpen(true)}
          // A click on an option lands before the blur closes the list.
          onBlur={() => setTimeout(() => setOpen(false), 150)}
          onKeyDown={onKey}
        />
      </div>
      {open && matches.length > 0 && (
        <ul id={`${id}-list`} role="listbox" aria-label={label} class="picker-list">
          {matches.map((m, i) => (
            <li
              id={`${id}-opt-${i}`}
              key={m}
              role="option"
              aria-selected={m === current}
              class={m === current ? "active" : ""}
              onMouseDown={(e) => {
                e.preventDefault();
                add(m);
              }}
            >
              {m}
            </li>
          ))}
        </ul>
      )}
      {open && options !== null && matches.length === 0 && (
        <p class="picker-list muted">
          {text ? `No ${label.toLowerCase()} match “${text}”` : `Every one of the ${label.toLowerCase()} is chosen`}
        </p>
      )}
    </div>
  );
}
