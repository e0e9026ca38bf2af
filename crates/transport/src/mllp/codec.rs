//! MLLP framing as a tokio codec: `0x0B <message> 0x1C 0x0D`.
//!
//! The decoder is strict about what is outside a frame (only CR/LF between frames is tolerated,
//! as some peers send them) and caps a frame's size, so a peer that never ends a frame cannot
//! make the harness buffer without bound.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

pub const START: u8 = 0x0B;
pub const END: [u8; 2] = [0x1C, 0x0D];
/// Default cap on one frame: large enough for an MDM document with an embedded PDF.
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("bytes outside an MLLP frame: {0}")]
    OutsideFrame(String),
    #[error("MLLP frame larger than the {0}-byte limit")]
    Oversized(usize),
    #[error(
        "the connection closed in the middle of an MLLP frame ({0} bytes received, no end block)"
    )]
    Unterminated(usize),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct MllpCodec {
    pub max_frame: usize,
}

impl Default for MllpCodec {
    fn default() -> Self {
        MllpCodec {
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

fn preview(bytes: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!("{shown:?} ({} bytes)", bytes.len())
}

impl Decoder for MllpCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        let skip = src
            .iter()
            .take_while(|b| **b == b'\r' || **b == b'\n')
            .count();
        src.advance(skip);
        let Some(&first) = src.first() else {
            return Ok(None);
        };
        if first != START {
            return Err(FrameError::OutsideFrame(preview(src)));
        }
        match src[1..].windows(2).position(|w| w == END) {
            Some(end) => {
                if end > self.max_frame {
                    return Err(FrameError::Oversized(self.max_frame));
                }
                src.advance(1);
                let frame = src.split_to(end);
                src.advance(2);
                Ok(Some(frame))
            }
            None if src.len() > self.max_frame + 3 => Err(FrameError::Oversized(self.max_frame)),
            None => Ok(None),
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.iter().all(|b| *b == b'\r' || *b == b'\n') => {
                src.clear();
                Ok(None)
            }
            None => Err(FrameError::Unterminated(src.len())),
        }
    }
}

impl Encoder<&[u8]> for MllpCodec {
    type Error = FrameError;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.reserve(item.len() + 3);
        dst.put_u8(START);
        dst.put_slice(item);
        dst.put_slice(&END);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> MllpCodec {
        MllpCodec { max_frame: 32 }
    }

    #[test]
    fn frames_split_and_joined() {
        let mut c = codec();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"\x0bMSH|a");
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"\x1c\r\x0bMSH|b\x1c\r\r\n");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"MSH|a");
        assert_eq!(&c.decode(&mut buf).unwrap().unwrap()[..], b"MSH|b");
        assert!(c.decode(&mut buf).unwrap().is_none());
        assert!(c.decode_eof(&mut buf).unwrap().is_none());
    }

    #[test]
    fn errors() {
        let mut c = codec();
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK"[..]);
        assert!(matches!(
            c.decode(&mut buf),
            Err(FrameError::OutsideFrame(_))
        ));
        let mut buf = BytesMut::from(&[b'\x0b'; 40][..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::Oversized(32))));
        let mut buf = BytesMut::from(&b"\x0bMSH|partial"[..]);
        assert!(matches!(
            c.decode_eof(&mut buf),
            Err(FrameError::Unterminated(12))
        ));
        let mut out = BytesMut::new();
        c.encode(&b"MSH"[..], &mut out).unwrap();
        assert_eq!(&out[..], b"\x0bMSH\x1c\r");
    }
}
