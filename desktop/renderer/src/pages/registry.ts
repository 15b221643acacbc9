// Every page of the UI: its hash route (`#/resident`), its navigation title and its component.
// The navigation lists them in this order.
import type { ComponentType } from 'react'
import { ConsumerSimulator } from './ConsumerSimulator.tsx'
import { Resident } from './Resident.tsx'
import { Explorer } from './Explorer.tsx'
import { Network } from './Network.tsx'
import { PaymentSimulator } from './PaymentSimulator.tsx'
import { Producer } from './Producer.tsx'
import { ProducerSimulator } from './ProducerSimulator.tsx'
import { Utility } from './Utility.tsx'

export const pages: Array<{ path: string, title: string, component: ComponentType }> = [
  { path: '/resident', title: 'My account', component: Resident },
  { path: '/consumer-sim', title: 'Consumer simulator', component: ConsumerSimulator },
  { path: '/payment-sim', title: 'Payment simulator', component: PaymentSimulator },
  { path: '/producer-sim', title: 'Producer simulator', component: ProducerSimulator },
  { path: '/producer', title: 'Producer', component: Producer },
  { path: '/utility', title: 'Utility console', component: Utility },
  { path: '/explorer', title: 'Ledger explorer', component: Explorer },
  { path: '/network', title: 'Network', component: Network },
]
