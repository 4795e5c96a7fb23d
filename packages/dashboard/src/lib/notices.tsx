import { createContext, useCallback, useContext, useState, type ReactNode } from 'react';

interface Notices {
  missing: string[];
  reportMissing(channel: string): void;
  dismiss(): void;
}

const NoticeContext = createContext<Notices>({ missing: [], reportMissing: () => {}, dismiss: () => {} });

/** Collects "a resume could not fill the gap" reports from every view for one banner. */
export function NoticeProvider({ children }: { children: ReactNode }) {
  const [missing, setMissing] = useState<string[]>([]);
  const reportMissing = useCallback((channel: string) => setMissing((list) => (list.includes(channel) ? list : [...list, channel].slice(-5))), []);
  const dismiss = useCallback(() => setMissing([]), []);
  return <NoticeContext.Provider value={{ missing, reportMissing, dismiss }}>{children}</NoticeContext.Provider>;
}

export const useNotices = () => useContext(NoticeContext);
