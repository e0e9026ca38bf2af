#![no_main]

use bytes::BytesMut;
use emr_transport::mllp::MllpCodec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const MAX_FRAME: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut codec = MllpCodec { max_frame: MAX_FRAME };
    let mut buf = BytesMut::from(data);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => assert!(
                frame.len() <= MAX_FRAME,
                "decode returned a {}-byte frame, over max_frame {MAX_FRAME}",
                frame.len()
            ),
            Ok(None) | Err(_) => break,
        }
    }
    if let Ok(Some(frame)) = codec.decode_eof(&mut buf) {
        assert!(
            frame.len() <= MAX_FRAME,
            "decode_eof returned a {}-byte frame, over max_frame {MAX_FRAME}",
            frame.len()
        );
    }
});
