// One source address, however the socket spells it.

/** '::ffff:10.0.0.1' and '10.0.0.1' are one source */
export function normalizeAddress (address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') === true ? address.slice(7) : address
}
