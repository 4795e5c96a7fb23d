/**
 * Calls `render` once on the next animation frame however often it is asked for before then: at hundreds
 * of events a second, one render per event would make the page unusable.
 */
export function onNextFrame(render: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    const run = () => {
      scheduled = false;
      render();
    };
    if (typeof requestAnimationFrame === 'function') requestAnimationFrame(run);
    else setTimeout(run, 16);
  };
}
