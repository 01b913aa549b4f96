//! What the fuzz targets share.

/// Splits `data` into a part whose length the first two bytes give (big-endian) and the rest,
/// so one fuzz input can carry several consistent objects (a CA and its CRL, say).
pub fn split(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
    let rest = data.get(2..)?;
    (len <= rest.len()).then(|| rest.split_at(len))
}
