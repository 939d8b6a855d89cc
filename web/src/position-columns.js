// Positions as the live worker hands them to the page: per vehicle STRIDE
// numbers in one Float64Array (lat, lon, mercator x, mercator y, ts in ms,
// speed, heading, engine temperature; NaN when absent), ids beside them.
// Mercator is in world units (0..1), Leaflet's EPSG:3857 at zoom 0 over 256.
export const STRIDE = 8
const MAX_LAT = 85.0511287798

export function mercator (lat, lon) {
  const la = Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI / 180
  return [(lon + 180) / 360, (1 - Math.log(Math.tan(la) + 1 / Math.cos(la)) / Math.PI) / 2]
}
