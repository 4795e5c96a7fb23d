import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { HeraldProvider } from '@herald/react';
import { App } from './App.js';
import './styles.css';

// The hub serves this page, so the hub is wherever the page came from (works behind a path prefix too).
const hubUrl = new URL('.', window.location.href).href.replace(/\/$/, '');

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <HeraldProvider options={{ url: hubUrl }}>
      <App />
    </HeraldProvider>
  </StrictMode>,
);
