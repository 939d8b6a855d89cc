// Shared by spool.test.ts and its child processes: the ILP line each record
// holds, and the spool a child opens (silent, against the parent's fake QuestDB).
import { pino } from 'pino'
import { openSpool, type Spool } from '../../src/spool/spool.js'
import { createIlpSender } from '../../src/questdb/ilp-sender.js'

export function line (i: number, tag = 'ok'): Buffer {
  return Buffer.from(`readings,vehicle_id=v${tag} seq=${i}i ${1700000000000000000 + i}\n`)
}

export async function childSpool (dir: string, url: string, segmentBytes: number): Promise<Spool> {
  const log = pino({ level: 'silent' })
  return await openSpool({ dir, log, sender: createIlpSender({ httpUrl: url, log, backoffMinMs: 10, backoffMaxMs: 50 }), segmentBytes, maxBytes: 1 << 30, maxBatchBytes: 64 * 1024 })
}
