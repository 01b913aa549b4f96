//! Reading HTTP/1.1 responses off a keep-alive connection, as fast as the load needs: the
//! status, and the body skipped by Content-Length or chunks.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads one HTTP/1.1 response from `io` (Content-Length or chunked), keeping bytes of the
/// next one in `buf`; returns the status.
pub async fn read_response<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut Vec<u8>,
) -> anyhow::Result<u16> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        fill(io, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end])?.to_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("bad status line"))?;
    buf.drain(..head_end);
    let lower = head.to_ascii_lowercase();
    let header = |name: &str| {
        lower
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    if let Some(len) = header("content-length:") {
        let len: usize = len.parse()?;
        while buf.len() < len {
            fill(io, buf).await?;
        }
        buf.drain(..len);
    } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                fill(io, buf).await?;
            };
            let size = usize::from_str_radix(
                std::str::from_utf8(&buf[..line_end])?
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim(),
                16,
            )?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                fill(io, buf).await?;
            }
            buf.drain(..size + 2);
            if size == 0 {
                break;
            }
        }
    } else {
        // Until the connection closes.
        while fill(io, buf).await.is_ok() {}
        buf.clear();
    }
    Ok(status)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn fill<R: AsyncRead + Unpin>(io: &mut R, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = io.read(&mut chunk).await?;
    anyhow::ensure!(n > 0, "connection closed");
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}
