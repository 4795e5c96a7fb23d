import { useEffect, useRef, useState, type ReactNode, type UIEvent } from 'react';

/**
 * Renders only the rows in view (fixed row height), so a list of thousands costs the same as a
 * screenful. `rowKey` keeps React's identity per item.
 */
export function VirtualList<T>({ items, rowHeight, render, rowKey, className, testId }: {
  items: readonly T[];
  rowHeight: number;
  render: (item: T, style: { top: number; height: number }) => ReactNode;
  rowKey: (item: T) => string;
  className?: string;
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(800);
  useEffect(() => {
    const element = box.current!;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  const onScroll = (event: UIEvent<HTMLDivElement>) => setScrollTop(event.currentTarget.scrollTop);
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - 5);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / rowHeight) + 5);
  const visible = items.slice(first, last);
  return (
    <div className={className} onScroll={onScroll} data-testid={testId} ref={box}>
      <div style={{ height: items.length * rowHeight, position: 'relative' }}>
        {visible.map((item, i) => (
          <div key={rowKey(item)}>{render(item, { top: (first + i) * rowHeight, height: rowHeight })}</div>
        ))}
      </div>
    </div>
  );
}
