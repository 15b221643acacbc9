// Whether the desktop app's node is still starting. Meanwhile setup/NodeGate.tsx shows the replica an
// earlier run stored, and useConnection() (hooks.tsx) says the node is starting, not merely connecting.
import { createContext, useContext, type ReactNode } from 'react'

const NodeStartingContext = createContext(false)

export function NodeStartingProvider ({ starting, children }: { starting: boolean, children: ReactNode }): ReactNode {
  return <NodeStartingContext.Provider value={starting}>{children}</NodeStartingContext.Provider>
}

/** True while a NodeStartingProvider above says the node starts; false in a browser (no NodeGate). */
export function useNodeStarting (): boolean {
  return useContext(NodeStartingContext)
}
