//! TYPE A line-ending conversion: CRLF on the wire, LF locally.

/// Converts CRLF to LF in a stream of chunks. A CR at the end of a chunk is
/// held until the next byte shows whether it starts a CRLF.
#[derive(Debug, Default)]
pub(crate) struct CrlfToLf {
    pending_cr: bool,
}

impl CrlfToLf {
    /// Appends the converted form of `input` to `out`.
    pub(crate) fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Emits a CR held at the end of the stream.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

/// Converts bare LF to CRLF; existing CRLF pairs are kept as they are.
#[derive(Debug, Default)]
pub(crate) struct LfToCrlf {
    prev_cr: bool,
}

impl LfToCrlf {
    /// Appends the converted form of `input` to `out`.
    pub(crate) fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 16);
        for &b in input {
            if b == b'\n' && !self.prev_cr {
                out.push(b'\r');
            }
            self.prev_cr = b == b'\r';
            out.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = CrlfToLf::default();
        let mut out = Vec::new();
        for ch in chunks {
            c.convert(ch, &mut out);
        }
        c.finish(&mut out);
        out
    }

    #[test]
    fn crlf_to_lf_across_every_split() {
        let wire = b"a\r\nb\r\r\nc\rd\r\n\r\ne\r";
        let want = b"a\nb\r\nc\rd\n\ne\r".to_vec();
        for i in 0..=wire.len() {
            assert_eq!(down(&[&wire[..i], &wire[i..]]), want, "split {i}");
        }
    }

    #[test]
    fn lf_to_crlf_keeps_existing_pairs() {
        let mut c = LfToCrlf::default();
        let mut out = Vec::new();
        c.convert(b"a\nb\r", &mut out);
        c.convert(b"\nc\n", &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn round_trip() {
        let text = b"line one\nline two\n\nlast";
        let mut up = Vec::new();
        LfToCrlf::default().convert(text, &mut up);
        assert_eq!(down(&[&up]), text);
    }
}
