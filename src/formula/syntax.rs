//! The claim language's concrete syntax: tokens and the untyped tree, every node with the byte
//! span of the formula text it came from (the grammar is in the README, "Writing a claim").
//!
//! The parser is a small recursive descent over a hand-written lexer: the grammar has a dozen
//! rules, and the spans it keeps are what the type checker underlines in its errors.

use std::ops::Range;

/// A byte range of the formula text.
pub type Span = Range<usize>;

/// A syntax error: what was wrong and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name: letters, digits, `_`, and `-` between two of them (`may-send`, `in-transit`).
    Name(String),
    Number(i64),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    Slash,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Underscore,
    /// `=>`, the same as `implies`.
    Arrow,
    /// `/\`, the same as `and`.
    Wedge,
    /// `\/`, the same as `or`.
    Vee,
    /// `~`, the same as `not`.
    Tilde,
    End,
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Name(n) => format!("`{n}`"),
            Tok::Number(n) => format!("`{n}`"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::End => "the end of the formula".into(),
            t => format!("`{}`", t.symbol()),
        }
    }
    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::Colon => ":",
            Tok::Slash => "/",
            Tok::Eq => "=",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Underscore => "_",
            Tok::Arrow => "=>",
            Tok::Wedge => "/\\",
            Tok::Vee => "\\/",
            Tok::Tilde => "~",
            _ => "",
        }
    }
}

/// The longest formula, in bytes: a claim is a sentence, not a program.
pub const MAX_LEN: usize = 4096;
/// The deepest nesting of a formula: deeper ones are rejected before they could exhaust the stack.
pub const MAX_NESTING: usize = 64;

pub fn lex(text: &str) -> Result<Vec<(Tok, Span)>, SyntaxError> {
    if text.len() > MAX_LEN {
        return Err(SyntaxError {
            span: 0..text.len(),
            message: format!(
                "the formula is {} bytes long; a claim may have at most {MAX_LEN}",
                text.len()
            ),
        });
    }
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = text[i..].chars().next().expect("i is a char boundary");
        let start = i;
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        if c == '#' {
            // A comment runs to the end of the line.
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let two = text.get(i..i + 2).unwrap_or("");
        let tok = match two {
            "!=" => Some(Tok::Ne),
            "<=" => Some(Tok::Le),
            ">=" => Some(Tok::Ge),
            "=>" => Some(Tok::Arrow),
            "/\\" => Some(Tok::Wedge),
            "\\/" => Some(Tok::Vee),
            _ => None,
        };
        if let Some(t) = tok {
            i += 2;
            out.push((t, start..i));
            continue;
        }
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            ',' => Some(Tok::Comma),
            '.' => Some(Tok::Dot),
            ':' => Some(Tok::Colon),
            '/' => Some(Tok::Slash),
            '=' => Some(Tok::Eq),
            '<' => Some(Tok::Lt),
            '>' => Some(Tok::Gt),
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '~' => Some(Tok::Tilde),
            _ => None,
        };
        if let Some(t) = single {
            i += 1;
            out.push((t, start..i));
            continue;
        }
        if c == '"' {
            i += 1;
            let body = i;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\n' {
                    break;
                }
                i += 1;
            }
            if i >= bytes.len() || bytes[i] != b'"' {
                return Err(SyntaxError {
                    span: start..i,
                    message: "this string has no closing `\"`".into(),
                });
            }
            let s = text[body..i].to_string();
            i += 1;
            out.push((Tok::Str(s), start..i));
            continue;
        }
        if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let n = text[start..i].parse::<i64>().map_err(|_| SyntaxError {
                span: start..i,
                message: "this number is too large".into(),
            })?;
            out.push((Tok::Number(n), start..i));
            continue;
        }
        if c == '_' && !text[i + 1..].starts_with(|c: char| c.is_alphanumeric() || c == '_') {
            i += 1;
            out.push((Tok::Underscore, start..i));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < bytes.len() {
                let c = text[i..].chars().next().expect("char boundary");
                if c.is_alphanumeric() || c == '_' {
                    i += c.len_utf8();
                } else if c == '-'
                    && text[i + 1..].starts_with(|c: char| c.is_alphanumeric())
                    && i > start
                {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push((Tok::Name(text[start..i].to_string()), start..i));
            continue;
        }
        return Err(SyntaxError {
            span: start..start + c.len_utf8(),
            message: format!("unexpected character `{}`", c.escape_default()),
        });
    }
    out.push((Tok::End, text.len()..text.len()));
    Ok(out)
}

/// The top operator of a claim, which gives its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Top {
    Always,
    Sometimes,
    Eventually,
    /// `φ leads-to ψ` (under any `forall`s): on every run that ends, each state where φ holds
    /// is followed (or accompanied) by one where ψ holds.
    LeadsTo,
}

/// A past-time operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PastOp {
    /// `once φ`: φ held in some state of the run so far (this one included).
    Once,
    /// `historically φ`: φ held in every state of the run so far.
    Historically,
    /// `φ since ψ`: ψ held at some state so far, and φ in every state after it.
    Since,
}

impl PastOp {
    pub fn name(self) -> &'static str {
        match self {
            PastOp::Once => "once",
            PastOp::Historically => "historically",
            PastOp::Since => "since",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    Forall,
    Exists,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::In => "in",
        }
    }
}

/// Where a quantified variable ranges: a sort (`m: message`) or a collection (`r in log`).
#[derive(Clone, Debug, PartialEq)]
pub enum Range_ {
    Sort(String, Span),
    In(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub name: String,
    pub span: Span,
    pub range: Range_,
}

/// A formula as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Formula {
    Const(bool, Span),
    Not(Box<Formula>, Span),
    And(Box<Formula>, Box<Formula>, Span),
    Or(Box<Formula>, Box<Formula>, Span),
    Implies(Box<Formula>, Box<Formula>, Span),
    Quant(Quant, Vec<Binding>, Box<Formula>, Span),
    Cmp(CmpOp, Expr, Expr, Span),
    /// A predicate applied to arguments, or a bare name used as a formula.
    Atom(Expr),
    /// A temporal operator inside a formula (only allowed at the top: the checker says so).
    Nested(Top, Box<Formula>, Span),
    /// `once φ`, `historically φ` (second operand `None`) or `φ since ψ`.
    Past(PastOp, Box<Formula>, Option<Box<Formula>>, Span),
    /// `φ leads-to ψ` (only allowed at the top, under `forall`s: the checker says so).
    LeadsTo(Box<Formula>, Box<Formula>, Span),
}

impl Formula {
    pub fn span(&self) -> Span {
        match self {
            Formula::Const(_, s)
            | Formula::Not(_, s)
            | Formula::And(_, _, s)
            | Formula::Or(_, _, s)
            | Formula::Implies(_, _, s)
            | Formula::Quant(_, _, _, s)
            | Formula::Cmp(_, _, _, s)
            | Formula::Nested(_, _, s)
            | Formula::Past(_, _, _, s)
            | Formula::LeadsTo(_, _, s) => s.clone(),
            Formula::Atom(e) => e.span(),
        }
    }
}

/// An expression as written.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Name(String, Span),
    Number(i64, Span),
    Str(String, Span),
    Wildcard(Span),
    /// `A/1`: a device by its account and number.
    Device(Box<Expr>, i64, Span),
    Call(String, Span, Vec<Expr>, Span),
    Field(Box<Expr>, String, Span),
    Set(Vec<Expr>, Span),
    Add(Box<Expr>, Box<Expr>, Span),
    Sub(Box<Expr>, Box<Expr>, Span),
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Name(_, s)
            | Expr::Number(_, s)
            | Expr::Str(_, s)
            | Expr::Wildcard(s)
            | Expr::Device(_, _, s)
            | Expr::Call(_, _, _, s)
            | Expr::Field(_, _, s)
            | Expr::Set(_, s)
            | Expr::Add(_, _, s)
            | Expr::Sub(_, _, s) => s.clone(),
        }
    }
}

/// A claim as written: its top operator and its formula.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub top: Top,
    pub top_span: Span,
    pub body: Formula,
}

const KEYWORDS: [&str; 16] = [
    "always",
    "sometimes",
    "eventually",
    "leads-to",
    "once",
    "historically",
    "since",
    "forall",
    "exists",
    "and",
    "or",
    "not",
    "implies",
    "in",
    "true",
    "false",
];

pub fn is_keyword(name: &str) -> bool {
    KEYWORDS.contains(&name)
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    at: usize,
    depth: usize,
}

pub fn parse(text: &str) -> Result<Claim, SyntaxError> {
    let mut p = Parser {
        toks: lex(text)?,
        at: 0,
        depth: 0,
    };
    let top = match p.peek() {
        Tok::Name(n) if top_of(n).is_some() => {
            let t = top_of(n).expect("checked");
            let s = p.bump();
            Some((t, s))
        }
        _ => None,
    };
    let body = p.formula()?;
    if *p.peek() != Tok::End {
        return Err(p.unexpected("`and`, `or`, `implies` or the end of the formula"));
    }
    let (top, top_span) = match top {
        Some(t) => t,
        None if leads_to_under_foralls(&body) => (Top::LeadsTo, body.span()),
        None => {
            return Err(SyntaxError {
                span: body.span(),
                message: "a claim begins with its kind: `always`, `sometimes` or `eventually` \
                          (as in `always forall m: message. not knows(log, content(m))`), or \
                          is `φ leads-to ψ`"
                    .into(),
            });
        }
    };
    Ok(Claim {
        top,
        top_span,
        body,
    })
}

/// Whether a formula is `φ leads-to ψ` under any number of `forall`s.
fn leads_to_under_foralls(f: &Formula) -> bool {
    match f {
        Formula::LeadsTo(..) => true,
        Formula::Quant(Quant::Forall, _, body, _) => leads_to_under_foralls(body),
        _ => false,
    }
}

fn top_of(name: &str) -> Option<Top> {
    match name {
        "always" => Some(Top::Always),
        "sometimes" => Some(Top::Sometimes),
        "eventually" => Some(Top::Eventually),
        _ => None,
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }
    fn span(&self) -> Span {
        self.toks[self.at].1.clone()
    }
    fn bump(&mut self) -> Span {
        let s = self.span();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        s
    }
    fn is_name(&self, n: &str) -> bool {
        matches!(self.peek(), Tok::Name(x) if x == n)
    }
    fn unexpected(&self, wanted: &str) -> SyntaxError {
        SyntaxError {
            span: self.span(),
            message: format!("expected {wanted}, found {}", self.peek().show()),
        }
    }
    fn expect(&mut self, t: Tok, wanted: &str) -> Result<Span, SyntaxError> {
        if *self.peek() == t {
            Ok(self.bump())
        } else {
            Err(self.unexpected(wanted))
        }
    }
    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(SyntaxError {
                span: self.span(),
                message: format!("the formula nests deeper than {MAX_NESTING} levels"),
            });
        }
        Ok(())
    }

    fn formula(&mut self) -> Result<Formula, SyntaxError> {
        self.enter()?;
        let f = if self.is_name("forall") || self.is_name("exists") {
            self.quantified()?
        } else {
            let lhs = self.implication()?;
            if self.is_name("leads-to") {
                self.bump();
                let rhs = self.implication()?;
                let span = lhs.span().start..rhs.span().end;
                Formula::LeadsTo(Box::new(lhs), Box::new(rhs), span)
            } else {
                lhs
            }
        };
        self.depth -= 1;
        Ok(f)
    }

    /// `φ implies ψ` (right-associative), or `φ since ψ`, or less.
    fn implication(&mut self) -> Result<Formula, SyntaxError> {
        if self.is_name("forall") || self.is_name("exists") {
            return self.quantified();
        }
        let lhs = self.since()?;
        if self.is_name("implies") || *self.peek() == Tok::Arrow {
            self.bump();
            self.enter()?;
            let rhs = self.implication();
            self.depth -= 1;
            let rhs = rhs?;
            let span = lhs.span().start..rhs.span().end;
            return Ok(Formula::Implies(Box::new(lhs), Box::new(rhs), span));
        }
        Ok(lhs)
    }

    /// `φ since ψ` (not associative: nest it in parentheses), or a disjunction.
    fn since(&mut self) -> Result<Formula, SyntaxError> {
        let lhs = self.disjunction()?;
        if self.is_name("since") {
            self.bump();
            let rhs = self.disjunction()?;
            let span = lhs.span().start..rhs.span().end;
            return Ok(Formula::Past(
                PastOp::Since,
                Box::new(lhs),
                Some(Box::new(rhs)),
                span,
            ));
        }
        Ok(lhs)
    }

    fn quantified(&mut self) -> Result<Formula, SyntaxError> {
        let start = self.span().start;
        let q = if self.is_name("forall") {
            Quant::Forall
        } else {
            Quant::Exists
        };
        self.bump();
        let mut bindings = Vec::new();
        loop {
            let mut names = Vec::new();
            loop {
                match self.peek().clone() {
                    Tok::Name(n) if !is_keyword(&n) => {
                        let s = self.bump();
                        names.push((n, s));
                    }
                    _ => return Err(self.unexpected("a variable name")),
                }
                if *self.peek() == Tok::Comma {
                    self.bump();
                    continue;
                }
                break;
            }
            let range = if *self.peek() == Tok::Colon {
                self.bump();
                match self.peek().clone() {
                    Tok::Name(n) => {
                        let s = self.bump();
                        Range_::Sort(n, s)
                    }
                    _ => return Err(self.unexpected("a sort (account, device, message, …)")),
                }
            } else if self.is_name("in") {
                self.bump();
                Range_::In(self.expr()?)
            } else {
                return Err(self.unexpected("`:` and a sort, or `in` and a collection"));
            };
            for (name, span) in names {
                bindings.push(Binding {
                    name,
                    span,
                    range: range.clone(),
                });
            }
            if *self.peek() == Tok::Comma {
                self.bump();
                continue;
            }
            break;
        }
        self.expect(Tok::Dot, "`.` before the quantified formula")?;
        let body = self.formula()?;
        let span = start..body.span().end;
        Ok(Formula::Quant(q, bindings, Box::new(body), span))
    }

    fn disjunction(&mut self) -> Result<Formula, SyntaxError> {
        let mut lhs = self.conjunction()?;
        while self.is_name("or") || *self.peek() == Tok::Vee {
            self.bump();
            let rhs = self.conjunction()?;
            let span = lhs.span().start..rhs.span().end;
            lhs = Formula::Or(Box::new(lhs), Box::new(rhs), span);
        }
        Ok(lhs)
    }

    fn conjunction(&mut self) -> Result<Formula, SyntaxError> {
        let mut lhs = self.unary()?;
        while self.is_name("and") || *self.peek() == Tok::Wedge {
            self.bump();
            let rhs = self.unary()?;
            let span = lhs.span().start..rhs.span().end;
            lhs = Formula::And(Box::new(lhs), Box::new(rhs), span);
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Formula, SyntaxError> {
        self.enter()?;
        let f = self.unary_inner()?;
        self.depth -= 1;
        Ok(f)
    }

    fn unary_inner(&mut self) -> Result<Formula, SyntaxError> {
        let start = self.span().start;
        if self.is_name("not") || *self.peek() == Tok::Tilde {
            self.bump();
            let f = self.unary()?;
            let span = start..f.span().end;
            return Ok(Formula::Not(Box::new(f), span));
        }
        if self.is_name("forall") || self.is_name("exists") {
            return self.quantified();
        }
        for op in [PastOp::Once, PastOp::Historically] {
            if self.is_name(op.name()) {
                self.bump();
                let f = self.unary()?;
                let span = start..f.span().end;
                return Ok(Formula::Past(op, Box::new(f), None, span));
            }
        }
        if let Tok::Name(n) = self.peek() {
            if let Some(t) = top_of(n) {
                self.bump();
                let f = self.unary()?;
                let span = start..f.span().end;
                return Ok(Formula::Nested(t, Box::new(f), span));
            }
            if n == "true" || n == "false" {
                let v = n == "true";
                let s = self.bump();
                return Ok(Formula::Const(v, s));
            }
        }
        if *self.peek() == Tok::LParen {
            self.bump();
            let f = self.formula()?;
            let end = self.expect(Tok::RParen, "`)`")?.end;
            return Ok(match f {
                // Keep the parentheses in the span, so errors underline what was written.
                Formula::Atom(e) => Formula::Atom(e),
                f => widen(f, start..end),
            });
        }
        let lhs = self.expr()?;
        let op = match self.peek() {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            Tok::Name(n) if n == "in" => Some(CmpOp::In),
            _ => None,
        };
        match op {
            Some(op) => {
                self.bump();
                let rhs = self.expr()?;
                let span = lhs.span().start..rhs.span().end;
                Ok(Formula::Cmp(op, lhs, rhs, span))
            }
            None => Ok(Formula::Atom(lhs)),
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.enter()?;
        let mut lhs = self.postfix()?;
        loop {
            let add = match self.peek() {
                Tok::Plus => true,
                Tok::Minus => false,
                _ => break,
            };
            self.bump();
            let rhs = self.postfix()?;
            let span = lhs.span().start..rhs.span().end;
            lhs = if add {
                Expr::Add(Box::new(lhs), Box::new(rhs), span)
            } else {
                Expr::Sub(Box::new(lhs), Box::new(rhs), span)
            };
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn postfix(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.primary()?;
        loop {
            match self.peek() {
                Tok::Dot => {
                    // `x.` followed by a name is a field; a `.` followed by anything else ends a
                    // quantifier's bindings, which `expr` never reaches.
                    if !matches!(self.toks.get(self.at + 1), Some((Tok::Name(_), _))) {
                        break;
                    }
                    // Fields are written without spaces (`r.target`); a `.` with a space on
                    // either side ends a quantifier's bindings (`forall r in log. …`).
                    let dot = self.toks[self.at].1.clone();
                    let next = self.toks[self.at + 1].1.start;
                    if dot.start != e.span().end || next != dot.end {
                        break;
                    }
                    self.bump();
                    let Tok::Name(f) = self.peek().clone() else {
                        unreachable!("checked above")
                    };
                    let fs = self.bump();
                    let span = e.span().start..fs.end;
                    e = Expr::Field(Box::new(e), f, span);
                }
                Tok::Slash => {
                    self.bump();
                    let (n, ns) = match self.peek().clone() {
                        Tok::Number(n) => (n, self.bump()),
                        _ => return Err(self.unexpected("a device number after `/` (as in `B/2`)")),
                    };
                    let span = e.span().start..ns.end;
                    e = Expr::Device(Box::new(e), n, span);
                }
                _ => break,
            }
        }
        Ok(e)
    }

    /// Expressions separated by `,` up to `close` (the list may be empty), and where it ends.
    fn items(&mut self, close: Tok, wanted: &str) -> Result<(Vec<Expr>, usize), SyntaxError> {
        let mut items = Vec::new();
        if *self.peek() != close {
            loop {
                items.push(self.expr()?);
                if *self.peek() != Tok::Comma {
                    break;
                }
                self.bump();
            }
        }
        Ok((items, self.expect(close, wanted)?.end))
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        let start = self.span().start;
        match self.peek().clone() {
            Tok::Number(n) => Ok(Expr::Number(n, self.bump())),
            Tok::Str(s) => Ok(Expr::Str(s, self.bump())),
            Tok::Underscore => Ok(Expr::Wildcard(self.bump())),
            Tok::LBrace => {
                self.bump();
                let (items, end) = self.items(Tok::RBrace, "`,` or `}`")?;
                Ok(Expr::Set(items, start..end))
            }
            Tok::Name(n) if !is_keyword(&n) => {
                let ns = self.bump();
                if *self.peek() == Tok::LParen {
                    self.bump();
                    let (args, end) = self.items(Tok::RParen, "`,` or `)`")?;
                    return Ok(Expr::Call(n, ns, args, start..end));
                }
                Ok(Expr::Name(n, ns))
            }
            _ => Err(self.unexpected("a name, a number, a string, `_` or `{`")),
        }
    }
}

/// The same formula with a wider span (its parentheses).
fn widen(f: Formula, span: Span) -> Formula {
    match f {
        Formula::Const(v, _) => Formula::Const(v, span),
        Formula::Not(a, _) => Formula::Not(a, span),
        Formula::And(a, b, _) => Formula::And(a, b, span),
        Formula::Or(a, b, _) => Formula::Or(a, b, span),
        Formula::Implies(a, b, _) => Formula::Implies(a, b, span),
        Formula::Quant(q, b, f, _) => Formula::Quant(q, b, f, span),
        Formula::Cmp(o, a, b, _) => Formula::Cmp(o, a, b, span),
        Formula::Nested(t, f, _) => Formula::Nested(t, f, span),
        Formula::Past(o, a, b, _) => Formula::Past(o, a, b, span),
        Formula::LeadsTo(a, b, _) => Formula::LeadsTo(a, b, span),
        Formula::Atom(e) => Formula::Atom(e),
    }
}
