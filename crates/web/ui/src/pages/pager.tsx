// Paging through a long server-side list (History, Audit): the gateway
// counts and pages, the page shows where it is and moves by one page.

/** Rows fetched per page. */
export const PAGE_SIZE = 100;

export function Pager({ offset, total, onMove, label }: { offset: number; total: number; onMove: (offset: number) => void; label: string }) {
  const last = Math.min(total, offset + PAGE_SIZE);
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button type="button" disabled={offset === 0} onClick={() => onMove(Math.max(0, offset - PAGE_SIZE))}>
        Previous
      </button>
      <span class="count" aria-live="polite">
        {total === 0 ? "none" : `${(offset + 1).toLocaleString()}–${last.toLocaleString()} of ${total.toLocaleString()}`}
      </span>
      <button type="button" disabled={last >= total} onClick={() => onMove(offset + PAGE_SIZE)}>
        Next
      </button>
    </nav>
  );
}
