//! Length-framed protobuf messages on QUIC streams: a 4-byte big-endian
//! length, then the encoded message. Reads are capped, so a peer cannot make
//! the other side allocate without bound.

use prost::Message;
use quinn::{RecvStream, SendStream};

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the stream ended")]
    Closed,
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("reading the stream: {0}")]
    Read(#[from] quinn::ReadExactError),
    #[error("writing the stream: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("not a valid message: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Writes one framed message.
pub async fn write<M: Message>(send: &mut SendStream, msg: &M) -> Result<(), FrameError> {
    let body = msg.encode_to_vec();
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        len: body.len(),
        max: u32::MAX as usize,
    })?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    send.write_all(&frame).await.map_err(|e| match e {
        quinn::WriteError::ClosedStream => FrameError::Closed,
        e => FrameError::Write(e),
    })?;
    Ok(())
}

/// Reads one framed message of at most `max` bytes; `Closed` when the
/// stream ends cleanly between frames.
pub async fn read<M: Message + Default>(
    recv: &mut RecvStream,
    max: usize,
) -> Result<M, FrameError> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body).await?;
    Ok(M::decode(body.as_slice())?)
}

/// Reads frames on a task of its own and hands them over a channel, ending
/// after the first error. Reading in `select!` directly is not cancel-safe:
/// a read dropped halfway would lose the bytes it had already taken.
pub fn reader<M: Message + Default + Send + 'static>(
    mut recv: RecvStream,
    max: usize,
) -> tokio::sync::mpsc::Receiver<Result<M, FrameError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let r = read::<M>(&mut recv, max).await;
            let end = r.is_err();
            if tx.send(r).await.is_err() || end {
                break;
            }
        }
    });
    rx
}
