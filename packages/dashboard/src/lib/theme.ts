import { useEffect, useState } from 'react';

/** Dark or light, remembered in this browser; the sign-in page and the dashboard share it. */
export function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => localStorage.getItem('herald.theme') ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark'));
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('herald.theme', theme);
  }, [theme]);
  return [theme, () => setTheme((t) => (t === 'dark' ? 'light' : 'dark'))];
}
