//! GS1 check digits: the mod-10 check digit of GTINs, GLNs, SSCCs, GSRNs, GDTIs and the other
//! numeric GS1 keys.

/// The GS1 mod-10 check digit of `body`, the digits that precede the check digit.
///
/// Weights 3 and 1 alternate from the rightmost digit of the body, so the same function serves
/// every key length (GTIN-8 to SSCC-18). `None` if `body` is empty or holds a non-digit.
pub fn check_digit(body: &str) -> Option<u8> {
    if body.is_empty() {
        return None;
    }
    let mut sum = 0u32;
    for (i, c) in body.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let digit = u32::from(c - b'0');
        sum += if i % 2 == 0 { digit * 3 } else { digit };
    }
    u8::try_from((10 - sum % 10) % 10).ok()
}

/// `body` followed by its check digit.
pub fn with_check_digit(body: &str) -> Option<String> {
    check_digit(body).map(|d| format!("{body}{d}"))
}

/// Whether `number` (digits, the last one the check digit) has a correct GS1 check digit.
pub fn is_valid(number: &str) -> bool {
    match number.len().checked_sub(1).map(|at| number.split_at(at)) {
        Some((body, last)) => {
            let expected = check_digit(body).map(|d| char::from(b'0' + d));
            expected.is_some() && last.chars().next() == expected
        }
        None => false,
    }
}

/// Whether `gtin` is a GTIN-8, -12, -13 or -14 with a correct check digit.
pub fn is_valid_gtin(gtin: &str) -> bool {
    matches!(gtin.len(), 8 | 12 | 13 | 14) && is_valid(gtin)
}

/// A GTIN-8, -12 or -13 left-padded with zeros to the 14 digits of its canonical form; a
/// GTIN-14 unchanged. `None` for any other length or a non-digit. The check digit is not
/// checked: padding with zeros does not change it.
pub fn gtin14(gtin: &str) -> Option<String> {
    (matches!(gtin.len(), 8 | 12 | 13 | 14) && gtin.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{gtin:0>14}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn known_keys() {
        // GTIN-14, -13, -12, -8, SSCC, GLN, GSRN from GS1 examples and the test data.
        for valid in [
            "09506000134352",
            "9506000134352",
            "614141000036",
            "02345673",
            "10614141073464",
            "006141411234567890",
            "340123451111111111",
            "4012345000054",
            "0614141073467",
            "401234500000067657",
            "12312312312333",
        ] {
            assert!(is_valid(valid), "{valid}");
        }
        for invalid in [
            "09506000134353",
            "9506000134351",
            "02345670",
            "006141411234567891",
            "",
            "5",
            "0950600013435X",
        ] {
            assert!(!is_valid(invalid), "{invalid}");
        }
    }

    #[test]
    fn check_digit_of_bodies() {
        assert_eq!(check_digit("0950600013435"), Some(2));
        assert_eq!(check_digit("1061414107346"), Some(4));
        assert_eq!(check_digit("34012345111111111"), Some(1));
        assert_eq!(check_digit("401234500000"), Some(9));
        assert_eq!(check_digit(""), None);
        assert_eq!(check_digit("12a"), None);
        assert_eq!(
            with_check_digit("400000100000").as_deref(),
            Some("4000001000005")
        );
    }

    #[test]
    fn gtins_pad_to_fourteen_digits() {
        assert_eq!(gtin14("02345673").as_deref(), Some("00000002345673"));
        assert_eq!(gtin14("614141000036").as_deref(), Some("00614141000036"));
        assert_eq!(gtin14("9506000134352").as_deref(), Some("09506000134352"));
        assert_eq!(gtin14("09506000134352").as_deref(), Some("09506000134352"));
        assert_eq!(gtin14("123456789"), None);
        assert!(is_valid_gtin("02345673"));
        assert!(!is_valid_gtin("123456789012345"));
    }
}
