// Every page of the UI: its hash route (`#/resident`), its navigation title and its component.
// The navigation lists them in this order.
import type { ComponentType } from 'react'
import { ConsumerSimulator } from './ConsumerSimulator.tsx'
import { Resident } from './Resident.tsx'

export const pages: Array<{ path: string, title: string, component: ComponentType }> = [
  { path: '/resident', title: 'My account', component: Resident },
  { path: '/consumer-sim', title: 'Consumer simulator', component: ConsumerSimulator },
]
