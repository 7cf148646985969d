//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`, `128974848`).
//!
//! The parser follows `k8s.io/apimachinery/pkg/api/resource`: the same
//! scanner, the same suffix table, the same three error texts, and the same
//! rounding (values finer than a nano-unit round up to `1n`; `value()` and
//! `milli_value()` round up away from zero). Amounts are kept exact as a
//! decimal mantissa and exponent, so `0.1` CPU is exactly 100 millicores.
//! Results too large for an `i64` saturate instead of wrapping.

use serde_json::Value;

/// The regular expression the API server quotes when a quantity is malformed.
const FORMAT_RE: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Mantissas are kept below this many significant digits, so that multiplying
/// by 2^60 (the `Ei` suffix) still fits an `i128`.
const MAX_DIGITS: u32 = 20;

/// The finest scale a quantity keeps: nano-units (10^-9).
const NANO: i32 = -9;

/// Why a quantity string was refused; the texts are the API server's own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The string is empty or is not `<number><suffix>` at all (e.g. `1KB`, `abc`).
    #[error("quantities must match the regular expression '{FORMAT_RE}'")]
    Format {
        /// The string that was refused.
        input: String,
    },
    /// The shape was right but the suffix is unknown (e.g. `1K`, `1kk`, `1e`).
    #[error("unable to parse quantity's suffix")]
    Suffix {
        /// The string that was refused.
        input: String,
    },
    /// The numeric part could not be read (it has no digits and needs some).
    #[error("unable to parse numeric part of quantity")]
    Numeric {
        /// The string that was refused.
        input: String,
    },
}

impl QuantityError {
    /// The string that was refused, for messages that must name it.
    pub fn input(&self) -> &str {
        match self {
            Self::Format { input } | Self::Suffix { input } | Self::Numeric { input } => input,
        }
    }
}

/// An exact parsed quantity: `mantissa × 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exponent: i32,
}

impl Quantity {
    /// The quantity as a whole number of units (bytes, cores, pods), rounded
    /// up away from zero like `Quantity.Value()`; saturates at the `i64` range.
    pub fn value(&self) -> i64 {
        self.scaled_value(0)
    }

    /// The quantity in thousandths (millicores), rounded up away from zero
    /// like `Quantity.MilliValue()`; saturates at the `i64` range.
    pub fn milli_value(&self) -> i64 {
        self.scaled_value(-3)
    }

    /// The quantity in units of `10^scale`, rounded up away from zero;
    /// saturates at the `i64` range.
    pub fn scaled_value(&self, scale: i32) -> i64 {
        let shift = i64::from(self.exponent) - i64::from(scale);
        let scaled = if shift >= 0 {
            let mut m = self.mantissa;
            for _ in 0..shift.min(40) {
                m = m.saturating_mul(10);
            }
            m
        } else {
            div_pow10_away_from_zero(self.mantissa, (-shift).min(60) as u32)
        };
        i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
    }

    /// Whether the quantity is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// Whether the quantity is below zero.
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }
}

/// Divides by `10^digits`, rounding any remainder away from zero.
fn div_pow10_away_from_zero(m: i128, digits: u32) -> i128 {
    if m == 0 {
        return 0;
    }
    // 10^38 is the largest power of ten an i128 holds; beyond it the quotient
    // is zero and only the rounding remains.
    let Some(divisor) = 10i128.checked_pow(digits) else {
        return m.signum();
    };
    let (q, r) = (m / divisor, m % divisor);
    if r == 0 { q } else { q + m.signum() }
}

/// Multiplies by `2^bits`; when that would overflow, first drops decimal
/// digits (rounding up in magnitude) and returns how many were dropped.
fn mul_pow2(mut m: i128, bits: u32) -> (i128, i32) {
    let mut dropped = 0;
    loop {
        if let Some(v) = m.checked_mul(1i128 << bits) {
            return (v, dropped);
        }
        m = div_pow10_away_from_zero(m, 1);
        dropped += 1;
    }
}

/// The pieces the scanner finds in a quantity string.
struct Scanned<'a> {
    negative: bool,
    /// Whether the numeric part has any digit at all (`.` and `+` have none).
    has_digit: bool,
    /// Integer digits with leading zeros removed (may be empty).
    whole: &'a str,
    /// Fraction digits (may be empty).
    fraction: &'a str,
    suffix: &'a str,
}

/// Splits `s` the way apimachinery's `parseQuantityString` does.
fn scan(s: &str) -> Option<Scanned<'_>> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut negative = false;
    if let Some(&c) = b.first()
        && (c == b'-' || c == b'+')
    {
        negative = c == b'-';
        pos = 1;
    }
    let number_start = pos;
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    let whole_start = pos;
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let whole = &s[whole_start..pos];
    let mut fraction = "";
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        fraction = &s[start..pos];
    }
    let suffix_start = pos;
    let has_digit = b[number_start..suffix_start].iter().any(u8::is_ascii_digit);
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < b.len() {
        return None;
    }
    Some(Scanned {
        negative,
        has_digit,
        whole,
        fraction,
        suffix: &s[suffix_start..],
    })
}

/// What a suffix multiplies by.
enum Multiplier {
    /// `10^n`: decimal SI (`m`, `k`, `M`, ...) and exponents (`e3`).
    Decimal(i32),
    /// `2^n`: binary SI (`Ki`, `Mi`, ...).
    Binary(u32),
}

/// Reads a suffix, or `None` when apimachinery would not recognise it.
fn suffix_multiplier(suffix: &str) -> Option<Multiplier> {
    let m = match suffix {
        "" => Multiplier::Decimal(0),
        "n" => Multiplier::Decimal(-9),
        "u" => Multiplier::Decimal(-6),
        "m" => Multiplier::Decimal(-3),
        "k" => Multiplier::Decimal(3),
        "M" => Multiplier::Decimal(6),
        "G" => Multiplier::Decimal(9),
        "T" => Multiplier::Decimal(12),
        "P" => Multiplier::Decimal(15),
        "E" => Multiplier::Decimal(18),
        "Ki" => Multiplier::Binary(10),
        "Mi" => Multiplier::Binary(20),
        "Gi" => Multiplier::Binary(30),
        "Ti" => Multiplier::Binary(40),
        "Pi" => Multiplier::Binary(50),
        "Ei" => Multiplier::Binary(60),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            let n: i64 = rest.parse().ok()?;
            // Anything past ±1000 is already far outside what an i64 or a
            // nano-unit can show, so clamping changes no visible result.
            Multiplier::Decimal(n.clamp(-1000, 1000) as i32)
        }
    };
    Some(m)
}

/// Parses a Kubernetes quantity such as `250m`, `1.5Gi`, `1e3` or `42`.
pub fn parse(q: &str) -> Result<Quantity, QuantityError> {
    if q.is_empty() {
        return Err(QuantityError::Format { input: q.into() });
    }
    let scanned = scan(q).ok_or_else(|| QuantityError::Format { input: q.into() })?;
    let multiplier = suffix_multiplier(scanned.suffix)
        .ok_or_else(|| QuantityError::Suffix { input: q.into() })?;

    // Accumulate the significant digits; past MAX_DIGITS the rest only moves
    // the exponent (whole digits) or rounds the last kept digit up.
    let mut mantissa: i128 = 0;
    let mut exponent: i32 = 0;
    let mut kept = 0u32;
    let mut inexact = false;
    for c in scanned.whole.bytes() {
        if kept < MAX_DIGITS {
            mantissa = mantissa * 10 + i128::from(c - b'0');
            kept += u32::from(mantissa != 0);
        } else {
            exponent += 1;
            inexact |= c != b'0';
        }
    }
    for c in scanned.fraction.bytes() {
        if kept < MAX_DIGITS {
            mantissa = mantissa * 10 + i128::from(c - b'0');
            kept += u32::from(mantissa != 0);
            exponent -= 1;
        } else {
            inexact |= c != b'0';
        }
    }
    if inexact {
        mantissa += 1;
    }

    match multiplier {
        Multiplier::Decimal(n) => {
            // apimachinery re-reads the number text for amounts finer than a
            // nano-unit, and a number without digits fails there.
            if !scanned.has_digit && n < NANO {
                return Err(QuantityError::Numeric { input: q.into() });
            }
            exponent += n;
        }
        Multiplier::Binary(bits) => {
            let (m, dropped) = mul_pow2(mantissa, bits);
            mantissa = m;
            exponent += dropped;
        }
    }
    if exponent < NANO {
        // Round non-zero amounts up to the smallest representable value.
        let shift = (NANO - exponent) as u32;
        mantissa = div_pow10_away_from_zero(mantissa, shift.min(60));
        exponent = NANO;
    }
    if scanned.negative {
        mantissa = -mantissa;
    }
    Ok(Quantity { mantissa, exponent })
}

/// Reads a quantity from JSON: a string is parsed, a number is taken as
/// written (the API server accepts both).
fn from_json(v: &Value) -> Option<Quantity> {
    match v {
        Value::String(s) => parse(s).ok(),
        Value::Number(n) => parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// A CPU quantity in millicores (`"250m"` → 250, `"0.5"` → 500, `2` → 2000),
/// rounded up like `MilliValue()`. `None` when absent or unparseable.
pub fn millis(v: &Value) -> Option<i64> {
    from_json(v).map(|q| q.milli_value())
}

/// A memory (or count) quantity in whole units (`"128Mi"` → 134217728,
/// `"1G"` → 10^9, `1073741824` → itself), rounded up like `Value()`.
/// `None` when absent or unparseable.
pub fn bytes(v: &Value) -> Option<i64> {
    from_json(v).map(|q| q.value())
}

/// Formats a byte count for messages, in mebibytes where that is exact
/// (`268435456` → `256Mi`, `1Gi` → `1024Mi`). Amounts that are not whole
/// mebibytes fall back to the API server's canonical form: `Ki` when whole
/// kibibytes, else plain bytes.
pub fn format_bytes_mi(bytes: i64) -> String {
    const KI: i64 = 1024;
    const MI: i64 = 1024 * 1024;
    if bytes != 0 && bytes % MI == 0 {
        format!("{}Mi", bytes / MI)
    } else if bytes != 0 && bytes % KI == 0 {
        format!("{}Ki", bytes / KI)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn val(s: &str) -> i64 {
        parse(s).expect(s).value()
    }

    fn milli(s: &str) -> i64 {
        parse(s).expect(s).milli_value()
    }

    #[test]
    fn plain_numbers_and_decimals() {
        assert_eq!(val("0"), 0);
        assert_eq!(val("42"), 42);
        assert_eq!(val("007"), 7);
        assert_eq!(milli("0.5"), 500);
        assert_eq!(milli("1.25"), 1250);
        assert_eq!(milli(".5"), 500);
        assert_eq!(val("+3"), 3);
        assert_eq!(val("-3"), -3);
    }

    #[test]
    fn decimal_si_suffixes() {
        assert_eq!(milli("250m"), 250);
        assert_eq!(val("1k"), 1_000);
        assert_eq!(val("1M"), 1_000_000);
        assert_eq!(val("2G"), 2_000_000_000);
        assert_eq!(val("1T"), 1_000_000_000_000);
        assert_eq!(val("1P"), 1_000_000_000_000_000);
        assert_eq!(val("1E"), 1_000_000_000_000_000_000);
        assert_eq!(milli("500000u"), 500);
        assert_eq!(milli("1000000n"), 1);
    }

    #[test]
    fn binary_si_suffixes() {
        assert_eq!(val("1Ki"), 1024);
        assert_eq!(val("128Mi"), 128 * 1024 * 1024);
        assert_eq!(val("1.5Gi"), 1536 * 1024 * 1024);
        assert_eq!(val("1Ti"), 1 << 40);
        assert_eq!(val("1Pi"), 1 << 50);
        assert_eq!(val("1Ei"), 1 << 60);
    }

    #[test]
    fn exponents() {
        assert_eq!(val("1e3"), 1000);
        assert_eq!(val("1E3"), 1000);
        assert_eq!(val("1e+3"), 1000);
        assert_eq!(milli("5e-1"), 500);
        assert_eq!(val("12e6"), 12_000_000);
    }

    #[test]
    fn rounding_is_up_and_away_from_zero() {
        assert_eq!(
            milli("0.0001"),
            1,
            "a tenth of a millicore still asks for some cpu"
        );
        assert_eq!(milli("1m"), 1);
        assert_eq!(val("100m"), 1, "Value() rounds 0.1 up to 1");
        assert_eq!(val("-100m"), -1);
        assert_eq!(val("1.1"), 2);
        assert!(!parse("0.1n").expect("0.1n").is_zero(), "rounded up to 1n");
    }

    #[test]
    fn huge_values_saturate_instead_of_wrapping() {
        assert_eq!(val("10E"), i64::MAX);
        assert_eq!(val("8Ei"), i64::MAX);
        assert_eq!(val("1e400"), i64::MAX);
        assert_eq!(val("123456789012345678901234567890"), i64::MAX);
        assert_eq!(val("-1e400"), i64::MIN);
        assert_eq!(milli("99999999999999999999999"), i64::MAX);
    }

    #[test]
    fn long_fractions_keep_rounding_up() {
        assert_eq!(milli("0.1000000000000000000000001"), 101);
        assert_eq!(val("1.00000000000000000000000000001Ki"), 1025);
    }

    #[test]
    fn malformed_strings_get_the_regex_error() {
        for bad in ["", "abc", "1KB", "1MiB", "1.5.5", "1 Gi", "1Gi1x", "1x"] {
            let err = parse(bad).expect_err(bad);
            assert!(
                matches!(err, QuantityError::Format { .. }),
                "{bad}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                "quantities must match the regular expression \
                 '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            );
            assert_eq!(err.input(), bad);
        }
    }

    #[test]
    fn unknown_suffixes_get_the_suffix_error() {
        for bad in [
            "1K",
            "1kk",
            "1e",
            "1i",
            "1mi",
            "--1",
            "1e99999999999999999999",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(
                matches!(err, QuantityError::Suffix { .. }),
                "{bad}: {err:?}"
            );
            assert_eq!(err.to_string(), "unable to parse quantity's suffix");
        }
    }

    #[test]
    fn a_number_without_digits_below_nano_scale_is_a_numeric_error() {
        let err = parse(".e-10").expect_err(".e-10");
        assert!(matches!(err, QuantityError::Numeric { .. }), "{err:?}");
        assert_eq!(err.to_string(), "unable to parse numeric part of quantity");
        assert!(parse("0e-10").expect("0e-10").is_zero());
    }

    #[test]
    fn apimachinery_oddities_are_kept() {
        // The real scanner accepts these as zero or as written.
        assert!(parse("+").expect("+").is_zero());
        assert!(parse(".").expect(".").is_zero());
        assert!(parse("Gi").expect("Gi").is_zero());
        assert_eq!(val("1.G"), 1_000_000_000);
        assert!(parse("-1").expect("-1").is_negative());
    }

    #[test]
    fn millis_reads_strings_and_numbers() {
        assert_eq!(millis(&json!("250m")), Some(250));
        assert_eq!(millis(&json!("2")), Some(2000));
        assert_eq!(millis(&json!(2)), Some(2000));
        assert_eq!(millis(&json!(0.5)), Some(500));
        assert_eq!(millis(&json!("1.5Gi")), Some(1536 * 1024 * 1024 * 1000));
        assert_eq!(millis(&json!("lots")), None);
        assert_eq!(millis(&json!(null)), None);
        assert_eq!(millis(&json!(true)), None);
    }

    #[test]
    fn bytes_reads_strings_and_numbers() {
        assert_eq!(bytes(&json!("64Mi")), Some(64 * 1024 * 1024));
        assert_eq!(bytes(&json!("1G")), Some(1_000_000_000));
        assert_eq!(bytes(&json!(1_073_741_824)), Some(1_073_741_824));
        assert_eq!(bytes(&json!(1.5e9)), Some(1_500_000_000));
        assert_eq!(bytes(&json!("1Q")), None);
        assert_eq!(bytes(&json!([])), None);
    }

    #[test]
    fn format_bytes_prefers_mebibytes() {
        assert_eq!(format_bytes_mi(256 * 1024 * 1024), "256Mi");
        assert_eq!(format_bytes_mi(1 << 30), "1024Mi");
        assert_eq!(format_bytes_mi(1536), "1536");
        assert_eq!(format_bytes_mi(2048), "2Ki");
        assert_eq!(format_bytes_mi(1_000_000), "1000000");
        assert_eq!(format_bytes_mi(0), "0");
    }
}
