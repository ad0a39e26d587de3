//! A small JSON reader that keeps what `serde_json::Value` loses: the raw text of numbers
//! (so `3.018e2` or a 30-digit id can still be compared as written) and duplicate object keys
//! in their original order (AWS keeps both and lets the later *path* win).

/// Deeper nesting than this is rejected rather than risking the stack.
const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JVal {
    Null,
    Bool(bool),
    Num(JNum),
    Str(String),
    Arr(Vec<JVal>),
    /// Keys in document order; duplicates kept.
    Obj(Vec<(String, JVal)>),
}

/// A JSON number as written plus its value as a double (may be infinite or 0.0 on
/// overflow/underflow; callers that care check `text`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JNum {
    pub text: Box<str>,
    pub f: f64,
}

impl JNum {
    pub(crate) fn new(text: &str) -> JNum {
        JNum {
            text: text.into(),
            f: text.parse::<f64>().unwrap_or(f64::NAN),
        }
    }
}

pub(crate) fn parse(text: &str) -> Result<JVal, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        src: text,
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i < p.s.len() {
        return Err(p.unexpected("expected end of input"));
    }
    Ok(v)
}

/// Converts an already-parsed serde value (numbers get their canonical text).
pub(crate) fn from_serde(v: &serde_json::Value) -> JVal {
    from_serde_depth(v, 0)
}

fn from_serde_depth(v: &serde_json::Value, depth: usize) -> JVal {
    use serde_json::Value as V;
    if depth > MAX_DEPTH {
        // Leave the overly deep part out; the compiler reports nesting as an error anyway.
        return JVal::Null;
    }
    match v {
        V::Null => JVal::Null,
        V::Bool(b) => JVal::Bool(*b),
        V::Number(n) => JVal::Num(JNum::new(&n.to_string())),
        V::String(s) => JVal::Str(s.clone()),
        V::Array(a) => JVal::Arr(a.iter().map(|x| from_serde_depth(x, depth + 1)).collect()),
        V::Object(o) => JVal::Obj(
            o.iter()
                .map(|(k, x)| (k.clone(), from_serde_depth(x, depth + 1)))
                .collect(),
        ),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// Jackson-style wording, since AWS surfaces Jackson's messages.
    fn unexpected(&self, expecting: &str) -> String {
        match self.src.get(self.i..).and_then(|r| r.chars().next()) {
            None => format!("Unexpected end-of-input: {expecting}"),
            Some(c) => format!(
                "Unexpected character ('{c}' (code {})): {expecting}",
                c as u32
            ),
        }
    }

    fn unrecognized_token(&self) -> String {
        let rest = self.src.get(self.i..).unwrap_or("");
        let tok: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '+')
            .take(64)
            .collect();
        if tok.is_empty() {
            return self.unexpected(
                "expected JSON String, Number, Array, Object or token 'null', 'true' or 'false'",
            );
        }
        format!(
            "Unrecognized token '{tok}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
        )
    }

    fn value(&mut self, depth: usize) -> Result<JVal, String> {
        if depth > MAX_DEPTH {
            return Err("Maximum nesting depth exceeded".to_string());
        }
        match self.s.get(self.i) {
            None => Err(self.unexpected("expected a value")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(JVal::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => {
                for (lit, v) in [
                    ("true", JVal::Bool(true)),
                    ("false", JVal::Bool(false)),
                    ("null", JVal::Null),
                ] {
                    if self.s[self.i..].starts_with(lit.as_bytes()) {
                        let end = self.i + lit.len();
                        let boundary = self
                            .s
                            .get(end)
                            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
                        if boundary {
                            self.i = end;
                            return Ok(v);
                        }
                    }
                }
                Err(self.unrecognized_token())
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<JVal, String> {
        self.i += 1;
        let mut out = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(JVal::Obj(out));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.unexpected("was expecting double-quote to start field name"));
            }
            let k = self.string()?;
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return Err(
                    self.unexpected("was expecting a colon to separate field name and value")
                );
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            out.push((k, v));
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(JVal::Obj(out));
                }
                _ => {
                    return Err(self.unexpected("was expecting comma to separate Object entries"));
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<JVal, String> {
        self.i += 1;
        let mut out = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(JVal::Arr(out));
        }
        loop {
            self.ws();
            out.push(self.value(depth + 1)?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(JVal::Arr(out));
                }
                _ => {
                    return Err(self.unexpected("was expecting comma to separate Array entries"));
                }
            }
        }
    }

    fn number(&mut self) -> Result<JVal, String> {
        let start = self.i;
        let s = self.s;
        let mut i = self.i;
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        match s.get(i) {
            Some(b'0') => {
                i += 1;
                if s.get(i).is_some_and(u8::is_ascii_digit) {
                    self.i = i;
                    return Err("Invalid numeric value: Leading zeroes not allowed".to_string());
                }
            }
            Some(b'1'..=b'9') => {
                while s.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => {
                self.i = i;
                return Err(self.unrecognized_token());
            }
        }
        if s.get(i) == Some(&b'.') {
            i += 1;
            if !s.get(i).is_some_and(u8::is_ascii_digit) {
                self.i = i;
                return Err(self.unexpected("Decimal point not followed by a digit"));
            }
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(s.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !s.get(i).is_some_and(u8::is_ascii_digit) {
                self.i = i;
                return Err(self.unexpected("Exponent indicator not followed by a digit"));
            }
            while s.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        self.i = i;
        Ok(JVal::Num(JNum::new(&self.src[start..i])))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.unexpected("expected 4 hex digits"))?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| "Unexpected character in Unicode escape".to_string())?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the plain run in one go: it is valid UTF-8 because `src` is a &str
            // and we only stop at ASCII bytes.
            let run_start = self.i;
            while let Some(&c) = self.s.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.src[run_start..self.i]);
            match self.s.get(self.i) {
                None => return Err("Unexpected end-of-input in a String value".to_string()),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let Some(&e) = self.s.get(self.i) else {
                        return Err("Unexpected end-of-input in a String value".to_string());
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi)
                                && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                } else {
                                    self.i = save;
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        other => {
                            return Err(format!(
                                "Unrecognized character escape '{}' (code {})",
                                other as char, other
                            ));
                        }
                    }
                }
                Some(&c) => {
                    return Err(format!(
                        "Illegal unquoted character (CTRL-CHAR, code {c}): has to be escaped using backslash to be included in string value"
                    ));
                }
            }
        }
    }
}

/// Parses a pattern number as AWS does: any finite double; overflow to infinity and
/// non-zero values that underflow to zero are rejected.
pub(crate) fn pattern_number(n: &JNum) -> Result<f64, String> {
    let f = n.f;
    if !f.is_finite() {
        return Err(format!("Value {} is out of range for a double", n.text));
    }
    if f == 0.0 {
        let mantissa = n.text.split(['e', 'E']).next().unwrap_or("");
        if mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            return Err(format!("Value {} is too small to be represented", n.text));
        }
    }
    // -0 and 0 are the same number for matching.
    Ok(if f == 0.0 { 0.0 } else { f })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_number_text_and_duplicates() {
        let v = parse(r#"{"a": 3.018e2, "a": [1, -0.5e-3], "b": "x\u00e9\n"}"#).unwrap();
        let JVal::Obj(o) = v else { panic!() };
        assert_eq!(o.len(), 3);
        assert_eq!(o[0].1, JVal::Num(JNum::new("3.018e2")));
        assert_eq!(o[2].1, JVal::Str("xé\n".into()));
    }

    #[test]
    fn rejects_bad_json() {
        for t in [
            "",
            "{",
            "{'a': 1}",
            "[1, 2 3]",
            "this is not json",
            "{\"a\": 01}",
            "{\"a\": tru}",
            "{} x",
            "\"abc",
            "[1.]",
            "{\"a\":\"\\x\"}",
        ] {
            assert!(parse(t).is_err(), "{t}");
        }
        assert!(parse(&"[".repeat(100_000)).is_err());
    }
}
