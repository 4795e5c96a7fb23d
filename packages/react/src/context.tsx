import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { HeraldClient, type ClientOptions } from '@herald/client';

const HeraldContext = createContext<HeraldClient | null>(null);

export type HeraldProviderProps = { children?: ReactNode } & ({ client: HeraldClient } | { options: ClientOptions });

/**
 * Makes a client available to the hooks below. Given `options`, it creates the client, connects on
 * mount and closes it on unmount; given a `client`, it only connects it and leaves its life to you.
 */
export function HeraldProvider(props: HeraldProviderProps) {
  const given = 'client' in props ? props.client : undefined;
  const [client] = useState(() => given ?? new HeraldClient((props as { options: ClientOptions }).options));
  useEffect(() => {
    client.connect();
    return given ? undefined : () => client.close();
  }, [client, given]);
  return <HeraldContext.Provider value={client}>{props.children}</HeraldContext.Provider>;
}

export function useHerald(): HeraldClient {
  const client = useContext(HeraldContext);
  if (!client) throw new Error('useHerald() and the Herald hooks need a <HeraldProvider> above them');
  return client;
}
