//! Code 128 for a tracking PIN: the modules (1 a bar, 0 a space) of a real Code 128
//! symbol, start, check character and stop included. A PIN is all digits, so it is set
//! in code C (two digits a symbol); an odd last digit goes in code B, and anything that
//! is not digits in code B throughout.

use barcoders::sym::code128::Code128;

/// The barcoders prefixes that choose a code set.
const CODE_B: char = 'Ɓ';
const CODE_C: char = 'Ć';

/// The modules of `data`, or why it cannot be set (a character outside printable ASCII).
pub fn modules(data: &str) -> Result<Vec<u8>, String> {
    if data.is_empty() {
        return Err("nothing to encode".to_owned());
    }
    let tagged = if data.bytes().all(|byte| byte.is_ascii_digit()) {
        let even = data.len() - data.len() % 2;
        let (pairs, last) = data.split_at(even);
        match (pairs.is_empty(), last.is_empty()) {
            (false, true) => format!("{CODE_C}{pairs}"),
            (false, false) => format!("{CODE_C}{pairs}{CODE_B}{last}"),
            _ => format!("{CODE_B}{data}"),
        }
    } else if data.bytes().all(|byte| (b' '..=b'~').contains(&byte)) {
        format!("{CODE_B}{data}")
    } else {
        return Err(format!("{data:?} has characters Code 128 cannot set"));
    };
    Code128::new(tagged)
        .map(|symbol| symbol.encode())
        .map_err(|error| format!("cannot encode {data:?} as Code 128: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(modules: &[u8]) -> String {
        modules.iter().map(|bit| char::from(b'0' + bit)).collect()
    }

    // Patterns from the Code 128 table (ISO/IEC 15417): value 0 is 212222, value 2 is
    // 222221, START C is 211232, STOP is 2331112.
    const VALUE_0: &str = "11011001100";
    const VALUE_2: &str = "11001100110";
    const START_C: &str = "11010011100";
    const START_B: &str = "11010010000";
    const STOP: &str = "1100011101011";

    #[test]
    fn a_pair_of_digits_is_start_c_the_value_the_check_and_stop() {
        // Check: (105 + 1 × 0) mod 103 = 2.
        let expected = format!("{START_C}{VALUE_0}{VALUE_2}{STOP}");
        assert_eq!(bits(&modules("00").unwrap()), expected);
    }

    #[test]
    fn a_sixteen_digit_pin_is_eight_code_c_symbols() {
        let encoded = bits(&modules("7023210039414604").unwrap());
        // Start, 8 values, check: 11 modules each, then the 13-module stop.
        assert_eq!(encoded.len(), 10 * 11 + 13);
        assert!(encoded.starts_with(START_C), "{encoded}");
        assert!(encoded.ends_with(STOP), "{encoded}");
    }

    #[test]
    fn an_odd_digit_count_switches_to_code_b_for_the_last() {
        let encoded = bits(&modules("123").unwrap());
        // Start C, 12, CODE B, 3, check, stop.
        assert_eq!(encoded.len(), 5 * 11 + 13);
        assert!(encoded.starts_with(START_C));
        let single = bits(&modules("7").unwrap());
        assert!(single.starts_with(START_B));
    }

    #[test]
    fn the_check_character_follows_the_weighted_sum() {
        // "1234": START C 105 + 1×12 + 2×34 = 185; 185 mod 103 = 82, whose pattern is
        // 121241.
        let encoded = bits(&modules("1234").unwrap());
        let check = &encoded[3 * 11..4 * 11];
        assert_eq!(check, "10010011110");
    }

    #[test]
    fn text_outside_printable_ascii_is_refused() {
        assert!(modules("").is_err());
        assert!(modules("é1").is_err());
        assert!(modules("AB12").is_ok());
    }
}
