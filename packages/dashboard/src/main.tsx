import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { HeraldProvider } from '@herald/react';
import { App } from './App.js';
import { AuthGate } from './components/AuthGate.js';
import { ErrorBoundary } from './components/ErrorBoundary.js';
import { useTheme } from './lib/theme.js';
import './styles.css';

// The hub serves this page, so the hub is wherever the page came from (works behind a path prefix too).
const hubUrl = new URL('.', window.location.href).href.replace(/\/$/, '');

function Root() {
  const [theme, toggleTheme] = useTheme();
  // The client is made after sign-in (its socket carries the session cookie) and dies with the session.
  return (
    <AuthGate>
      {(session) => (
        <HeraldProvider options={{ url: hubUrl, fetch: session.fetch }}>
          <App theme={theme} onTheme={toggleTheme} />
        </HeraldProvider>
      )}
    </AuthGate>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {/* The last resort: each view and detail pane has its own boundary, so this one should never show. */}
    <ErrorBoundary what="the dashboard">
      <Root />
    </ErrorBoundary>
  </StrictMode>,
);
