//! What the replies around a transfer say about its size and offset.

use crate::reply::Reply;

/// The size a server announces in its 1yz mark, as vsftpd and ProFTPD do:
/// `150 Opening BINARY mode data connection for f.bin (3000000 bytes).`
/// `None` when the mark names no size (Pure-FTPd, pyftpdlib), or names it
/// in another form.
///
/// The number is the file's size as the server sees it: for a `RETR` after
/// `REST n`, servers differ on whether it is the whole file or what is
/// left, so a caller compares with both.
pub fn announced_size(mark: &Reply) -> Option<u64> {
    if !mark.code().is_preliminary() {
        return None;
    }
    let text = mark.text();
    let lower = text.to_ascii_lowercase();
    let end = lower.rfind(" bytes)")?;
    let open = lower.get(..end)?.rfind('(')?;
    parse_digits(lower.get(open + 1..end)?.trim().as_bytes())
}

/// Whether a `350` reply to `REST offset` confirms that offset.
///
/// Servers echo the offset they will start from (`350 Restarting at
/// 500000`, `350 Restart position accepted (500000).`). `Some(false)` when
/// the reply names numbers and none of them is `offset`: the server means
/// to start elsewhere, and appending what it sends would splice the file.
/// `None` when the reply names no number: the protocol cannot tell, and the
/// caller must check the final size another way.
pub fn rest_confirms(reply: &Reply, offset: u64) -> Option<bool> {
    let text = reply.text();
    let numbers: Vec<u64> = text
        .as_bytes()
        .split(|b| !b.is_ascii_digit())
        .filter_map(parse_digits)
        .collect();
    if numbers.is_empty() {
        return None;
    }
    Some(numbers.contains(&offset))
}

fn parse_digits(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 20 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    d.iter().try_fold(0u64, |acc, c| {
        acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::ReplyCode;
    use bytes::Bytes;

    fn reply(code: u16, line: &str) -> Reply {
        Reply::new(
            ReplyCode::new(code).expect("code"),
            vec![Bytes::from(line.to_owned())],
        )
    }

    #[test]
    fn sizes_in_marks() {
        let vsftpd = reply(
            150,
            "Opening BINARY mode data connection for f.bin (3000000 bytes).",
        );
        assert_eq!(announced_size(&vsftpd), Some(3_000_000));
        let proftpd = reply(
            150,
            "Opening BINARY mode data connection for a (b) (12 bytes)",
        );
        assert_eq!(announced_size(&proftpd), Some(12));
        let pure = reply(150, "Accepted data connection");
        assert_eq!(announced_size(&pure), None);
        let odd = reply(150, "Opening (lots of bytes)");
        assert_eq!(announced_size(&odd), None);
        let not_mark = reply(226, "Done (12 bytes)");
        assert_eq!(announced_size(&not_mark), None);
        let huge = reply(150, "x (999999999999999999999999 bytes)");
        assert_eq!(announced_size(&huge), None);
    }

    #[test]
    fn rest_replies() {
        let proftpd = reply(
            350,
            "Restarting at 500000. Send STORE or RETRIEVE to initiate transfer",
        );
        assert_eq!(rest_confirms(&proftpd, 500_000), Some(true));
        assert_eq!(rest_confirms(&proftpd, 0), Some(false));
        let vsftpd = reply(350, "Restart position accepted (500000).");
        assert_eq!(rest_confirms(&vsftpd, 500_000), Some(true));
        let liar = reply(350, "Restarting at 0");
        assert_eq!(rest_confirms(&liar, 500_000), Some(false));
        let silent = reply(350, "Requested file action pending further information");
        assert_eq!(rest_confirms(&silent, 500_000), None);
        let three_fifty = reply(350, "Restarting at 350");
        assert_eq!(rest_confirms(&three_fifty, 350), Some(true));
    }
}
