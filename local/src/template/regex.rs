//! A small backtracking regular-expression matcher for CloudFormation's `AllowedPattern`.
//!
//! The crate has no `regex` dependency, and parameter patterns are short and written by
//! the template's author, so a backtracking matcher over the common subset is enough:
//! literals, `.`, `^`, `$`, classes (`[a-z0-9-]`, `[^@\s]`), `\d \w \s` and their
//! negations, groups (`(..)`, `(?:..)`), `|`, and the quantifiers `* + ? {n} {n,} {n,m}`
//! (greedy or lazy). As CloudFormation (Java's `String.matches`), the whole value must
//! match. A step budget keeps a pathological pattern from hanging the loader.

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class {
        items: Vec<ClassItem>,
        negated: bool,
    },
    Start,
    End,
    Alt(Vec<Node>),
    Concat(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
}

#[derive(Debug, Clone)]
enum ClassItem {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
}

impl ClassItem {
    fn matches(&self, c: char) -> bool {
        match *self {
            ClassItem::Range(a, b) => a <= c && c <= b,
            ClassItem::Digit(neg) => c.is_ascii_digit() != neg,
            ClassItem::Word(neg) => (c.is_ascii_alphanumeric() || c == '_') != neg,
            ClassItem::Space(neg) => matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c') != neg,
        }
    }
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(super) struct Regex {
    root: Node,
}

const STEP_BUDGET: u64 = 2_000_000;

impl Regex {
    pub(super) fn new(pattern: &str) -> Result<Regex, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = Parser {
            chars: &chars,
            pos: 0,
        };
        let root = p.alt()?;
        if p.pos < chars.len() {
            return Err(format!("unbalanced ')' at {}", p.pos));
        }
        Ok(Regex { root })
    }

    /// Whether the whole of `text` matches; `Err` when the step budget runs out.
    pub(super) fn full_match(&self, text: &str) -> Result<bool, String> {
        let input: Vec<char> = text.chars().collect();
        let m = Matcher {
            input: &input,
            steps: std::cell::Cell::new(0),
        };
        let end = input.len();
        let ok = m.node(&self.root, 0, &mut |p| p == end);
        if m.steps.get() > STEP_BUDGET {
            return Err("the pattern is too complex to evaluate".into());
        }
        Ok(ok)
    }
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alt(&mut self) -> Result<Node, String> {
        let mut alts = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.concat()?);
        }
        Ok(if alts.len() == 1 {
            alts.remove(0)
        } else {
            Node::Alt(alts)
        })
    }

    fn concat(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Ok(Node::Concat(items))
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => match self.braces()? {
                Some(b) => b,
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        // Past the quantifier character (or the closing brace `braces` stopped on).
        self.pos += 1;
        if matches!(atom, Node::Start | Node::End) {
            return Err("a quantifier needs something to repeat".into());
        }
        let greedy = if self.peek() == Some('?') {
            self.pos += 1;
            false
        } else {
            true
        };
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
            greedy,
        })
    }

    /// Parses `{n}`, `{n,}`, `{n,m}` leaving `pos` on the closing brace; `None` (and `pos`
    /// unchanged) when the brace is not a quantifier, as in Java where it is then literal.
    fn braces(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let start = self.pos;
        let mut i = self.pos + 1;
        let num = |i: &mut usize| -> Option<u32> {
            let s = *i;
            while self.chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            self.chars[s..*i].iter().collect::<String>().parse().ok()
        };
        let Some(min) = num(&mut i) else {
            return Ok(None);
        };
        let max = if self.chars.get(i) == Some(&',') {
            i += 1;
            if self.chars.get(i) == Some(&'}') {
                None
            } else {
                match num(&mut i) {
                    Some(m) => Some(m),
                    None => return Ok(None),
                }
            }
        } else {
            Some(min)
        };
        if self.chars.get(i) != Some(&'}') {
            self.pos = start;
            return Ok(None);
        }
        if max.is_some_and(|m| m < min) {
            return Err(format!("bad repetition {{{min},{}}}", max.unwrap_or(min)));
        }
        self.pos = i;
        Ok(Some((min, max)))
    }

    fn atom(&mut self) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("unexpected end of pattern".into());
        };
        self.pos += 1;
        Ok(match c {
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '(' => {
                if self.chars.get(self.pos..self.pos + 2) == Some(&['?', ':']) {
                    self.pos += 2;
                } else if self.peek() == Some('?') {
                    return Err("only (?:...) groups are supported".into());
                }
                let inner = self.alt()?;
                if self.peek() != Some(')') {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                inner
            }
            '[' => self.class()?,
            '\\' => match self.escape()? {
                Esc::Char(c) => Node::Char(c),
                Esc::Class(item) => Node::Class {
                    items: vec![item],
                    negated: false,
                },
            },
            '*' | '+' | '?' => return Err(format!("nothing to repeat before '{c}'")),
            c => Node::Char(c),
        })
    }

    fn escape(&mut self) -> Result<Esc, String> {
        let Some(c) = self.peek() else {
            return Err("trailing backslash".into());
        };
        self.pos += 1;
        Ok(match c {
            'd' => Esc::Class(ClassItem::Digit(false)),
            'D' => Esc::Class(ClassItem::Digit(true)),
            'w' => Esc::Class(ClassItem::Word(false)),
            'W' => Esc::Class(ClassItem::Word(true)),
            's' => Esc::Class(ClassItem::Space(false)),
            'S' => Esc::Class(ClassItem::Space(true)),
            'n' => Esc::Char('\n'),
            't' => Esc::Char('\t'),
            'r' => Esc::Char('\r'),
            c if c.is_ascii_alphanumeric() => {
                return Err(format!("unsupported escape \\{c}"));
            }
            c => Esc::Char(c),
        })
    }

    fn class(&mut self) -> Result<Node, String> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err("missing ']'".into());
            };
            self.pos += 1;
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = match c {
                '\\' => match self.escape()? {
                    Esc::Char(c) => c,
                    Esc::Class(item) => {
                        items.push(item);
                        continue;
                    }
                },
                c => c,
            };
            // A '-' is a range only between two characters; first or last it is literal.
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let hi = match self.peek() {
                    Some('\\') => {
                        self.pos += 1;
                        match self.escape()? {
                            Esc::Char(c) => c,
                            Esc::Class(_) => return Err("bad class range".into()),
                        }
                    }
                    Some(h) => {
                        self.pos += 1;
                        h
                    }
                    None => return Err("missing ']'".into()),
                };
                if hi < lo {
                    return Err(format!("bad class range {lo}-{hi}"));
                }
                items.push(ClassItem::Range(lo, hi));
            } else {
                items.push(ClassItem::Range(lo, lo));
            }
        }
        Ok(Node::Class { items, negated })
    }
}

enum Esc {
    Char(char),
    Class(ClassItem),
}

struct Matcher<'a> {
    input: &'a [char],
    // A Cell so that the continuation closures can share the matcher.
    steps: std::cell::Cell<u64>,
}

impl Matcher<'_> {
    /// Matches `node` at `pos`, then calls `k` with each end position until it succeeds.
    fn node(&self, node: &Node, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        self.steps.set(self.steps.get() + 1);
        if self.steps.get() > STEP_BUDGET {
            return false;
        }
        let cur = self.input.get(pos).copied();
        match node {
            Node::Char(c) => cur == Some(*c) && k(pos + 1),
            Node::Any => cur.is_some_and(|c| c != '\n') && k(pos + 1),
            Node::Class { items, negated } => {
                cur.is_some_and(|c| items.iter().any(|i| i.matches(c)) != *negated) && k(pos + 1)
            }
            Node::Start => pos == 0 && k(pos),
            Node::End => pos == self.input.len() && k(pos),
            Node::Alt(alts) => alts.iter().any(|a| self.node(a, pos, k)),
            Node::Concat(items) => self.seq(items, pos, k),
            Node::Repeat {
                node,
                min,
                max,
                greedy,
            } => self.repeat(node, (*min, *max, *greedy), 0, pos, k),
        }
    }

    fn seq(&self, items: &[Node], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        match items.split_first() {
            None => k(pos),
            Some((first, rest)) => self.node(first, pos, &mut |p| self.seq(rest, p, k)),
        }
    }

    fn repeat(
        &self,
        node: &Node,
        q: (u32, Option<u32>, bool),
        count: u32,
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        let (min, max, greedy) = q;
        let can_more = max.is_none_or(|m| count < m);
        let done = count >= min;
        // An iteration that consumes nothing cannot help and would loop forever.
        let more = |k: &mut dyn FnMut(usize) -> bool| {
            can_more
                && self.node(node, pos, &mut |p| {
                    (p > pos || count < min) && self.repeat(node, q, count + 1, p, k)
                })
        };
        // Greedy tries one more iteration first, lazy tries stopping first.
        let first_more = greedy;
        if first_more && more(k) {
            return true;
        }
        if done && k(pos) {
            return true;
        }
        !first_more && more(k)
    }
}
