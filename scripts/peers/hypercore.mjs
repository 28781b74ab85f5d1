// Hypercore measured as scripts/bench-peers.sh compares Tally with it: blocks of BLOCK bytes,
// appended in batches, appended one at a time (each append awaited), and replicated to a
// clone over an in-process stream. Prints one JSON object: blocks per second of each.
//
// Usage: node hypercore.mjs DIR [BATCHED] [SINGLE] [REPLICATED]

import Hypercore from 'hypercore'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { join } from 'node:path'

const BLOCK = 300
const BATCH = 1000
const [dir, batched = '200000', single = '5000', replicated = '200000'] = process.argv.slice(2)
if (!dir) {
  console.error('usage: node hypercore.mjs DIR [BATCHED] [SINGLE] [REPLICATED]')
  process.exit(2)
}

function blocks (count) {
  const all = []
  for (let i = 0; i < count; i++) all.push(randomBytes(BLOCK))
  return all
}

async function fresh (name, key) {
  const path = join(dir, name)
  rmSync(path, { recursive: true, force: true })
  const core = key ? new Hypercore(path, key) : new Hypercore(path)
  await core.ready()
  return core
}

async function appendBatched (count) {
  const core = await fresh('batched')
  const data = blocks(count)
  const start = process.hrtime.bigint()
  for (let i = 0; i < count; i += BATCH) await core.append(data.slice(i, i + BATCH))
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  await core.close()
  return count / seconds
}

async function appendOneByOne (count) {
  const core = await fresh('single')
  const data = blocks(count)
  const start = process.hrtime.bigint()
  for (const block of data) await core.append(block)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  await core.close()
  return count / seconds
}

async function replicate (count) {
  const source = await fresh('source')
  const data = blocks(count)
  for (let i = 0; i < count; i += BATCH) await source.append(data.slice(i, i + BATCH))
  const clone = await fresh('clone', source.key)
  const start = process.hrtime.bigint()
  const a = source.replicate(true)
  const b = clone.replicate(false)
  a.pipe(b).pipe(a)
  await clone.update({ wait: true })
  await clone.download({ start: 0, end: count }).done()
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  if (clone.contiguousLength !== count) throw new Error(`the clone holds ${clone.contiguousLength} of ${count} blocks`)
  a.destroy()
  b.destroy()
  await clone.close()
  await source.close()
  return count / seconds
}

const result = {
  block_bytes: BLOCK,
  batch: BATCH,
  batched_blocks: Number(batched),
  batched_per_second: await appendBatched(Number(batched)),
  single_blocks: Number(single),
  single_per_second: await appendOneByOne(Number(single)),
  replicated_blocks: Number(replicated),
  replicated_per_second: await replicate(Number(replicated))
}
console.log(JSON.stringify(result))
