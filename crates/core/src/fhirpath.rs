//! A FHIRPath subset evaluated over JSON, enough for assertions and captures.
//!
//! The Rust FHIRPath engines we looked at need a newer rustc (octofhir-fhirpath) or bring a second
//! full FHIR model set into the build (helios-fhirpath), so this evaluates the commonly used part of
//! the language over `serde_json::Value`: paths with implicit flattening and choice types
//! (`Observation.value`), indexers, `where/select/all/exists/empty/count/first/last/tail/single/
//! not/distinct/contains/startsWith/endsWith/matches/length/hasValue/toString/toInteger/ofType`,
//! `= != ~ !~ < <= > >=`, `and or xor implies`, `|`, `+ - &`, literals, `%resource`, `$this`.
//! Everything evaluates to a collection, as in the specification.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("FHIRPath `{expr}`: {message}")]
pub struct FhirPathError {
    pub expr: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Literal(Value),
    Empty,
    This,
    Resource,
    /// A name at the start of a path or after a dot.
    Member(Box<Expr>, String),
    /// `Patient` at the start of `Patient.name`: the root when its type matches.
    Root(String),
    Index(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, String, Vec<Expr>),
    Binary(Box<Expr>, BinOp, Box<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
}

impl Expr {
    /// Moves this node's children onto `out`, leaving it a leaf.
    fn take_children(&mut self, out: &mut Vec<Expr>) {
        let take = |b: &mut Box<Expr>| std::mem::replace(&mut **b, Expr::Empty);
        match self {
            Expr::Member(b, _) | Expr::Not(b) | Expr::Neg(b) => out.push(take(b)),
            Expr::Index(a, b) | Expr::Binary(a, _, b) => {
                out.push(take(a));
                out.push(take(b));
            }
            Expr::Call(b, _, args) => {
                out.push(take(b));
                out.append(args);
            }
            Expr::Literal(_) | Expr::Empty | Expr::This | Expr::Resource | Expr::Root(_) => {}
        }
    }

    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Member(b, _) | Expr::Not(b) | Expr::Neg(b) => vec![b],
            Expr::Index(a, b) | Expr::Binary(a, _, b) => vec![a, b],
            Expr::Call(b, _, args) => std::iter::once(&**b).chain(args.iter()).collect(),
            _ => Vec::new(),
        }
    }

    /// The tree's depth, found without recursion (a chain `a.b.c...` builds depth in a loop).
    fn depth(&self) -> usize {
        let mut max = 0;
        let mut stack = vec![(self, 1usize)];
        while let Some((e, d)) = stack.pop() {
            max = max.max(d);
            stack.extend(e.children().into_iter().map(|c| (c, d + 1)));
        }
        max
    }
}

/// Dropped without recursion: a rejected expression may be a chain thousands of nodes deep, and
/// the default recursive drop of such a tree overflows the stack.
impl Drop for Expr {
    fn drop(&mut self) {
        let mut stack = Vec::new();
        self.take_children(&mut stack);
        while let Some(mut e) = stack.pop() {
            e.take_children(&mut stack);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BinOp {
    And,
    Or,
    Xor,
    Implies,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    Lt,
    Le,
    Gt,
    Ge,
    Union,
    Add,
    Sub,
    Concat,
}

/// A parsed expression, ready to evaluate many times.
#[derive(Debug, Clone)]
pub struct FhirPath {
    source: String,
    expr: Expr,
}

impl FhirPath {
    pub fn parse(source: &str) -> Result<FhirPath, FhirPathError> {
        FhirPath::parse_with_depth(source, crate::limits::DEFAULT_MAX_DEPTH)
    }

    /// Parses `source`, refusing expressions nested deeper than `max_depth`: evaluation recurses
    /// once per level, and a hostile expression nested a thousand deep overflowed the stack.
    pub fn parse_with_depth(source: &str, max_depth: usize) -> Result<FhirPath, FhirPathError> {
        let tokens = tokenize(source).map_err(|m| err(source, m))?;
        let mut p = Parser {
            tokens,
            pos: 0,
            src: source,
            nest: 0,
            max_depth,
        };
        let expr = p.expr()?;
        if p.pos != p.tokens.len() {
            return Err(err(
                source,
                format!("unexpected `{}`", p.tokens[p.pos].text()),
            ));
        }
        if expr.depth() > max_depth {
            return Err(err(
                source,
                format!("nested more than {max_depth} deep (--max-depth)"),
            ));
        }
        Ok(FhirPath {
            source: source.to_string(),
            expr,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn evaluate(&self, resource: &Value) -> Result<Vec<Value>, FhirPathError> {
        let ctx = Ctx {
            resource,
            work: std::cell::Cell::new(0),
        };
        eval(&self.expr, std::slice::from_ref(resource), &ctx).map_err(|m| err(&self.source, m))
    }

    /// True only when the result is the single boolean `true`.
    pub fn is_true(&self, resource: &Value) -> Result<bool, FhirPathError> {
        Ok(matches!(
            self.evaluate(resource)?.as_slice(),
            [Value::Bool(true)]
        ))
    }
}

fn err(expr: &str, message: impl Into<String>) -> FhirPathError {
    FhirPathError {
        expr: expr.to_string(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64, bool),
    Date(String),
    Op(&'static str),
    Var(String),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Ident(s) | Tok::Var(s) | Tok::Date(s) => s.clone(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Num(n, _) => n.to_string(),
            Tok::Op(o) => (*o).to_string(),
        }
    }
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    const OPS: &[&str] = &[
        "!=", "!~", "<=", ">=", "=", "~", "<", ">", "(", ")", "[", "]", ".", ",", "|", "+", "-",
        "&", "{", "}",
    ];
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('\'') => break,
                    Some('\\') => {
                        let esc = chars.get(i + 1).copied().ok_or("unterminated string")?;
                        s.push(match esc {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c == '`' {
            let end = chars[i + 1..]
                .iter()
                .position(|&ch| ch == '`')
                .ok_or("unterminated `identifier`")?;
            out.push(Tok::Ident(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut decimal = false;
            if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                decimal = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let n = text.parse().map_err(|_| format!("bad number `{text}`"))?;
            out.push(Tok::Num(n, decimal));
        } else if c == '@' {
            let start = i + 1;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || "-:.+TZ".contains(chars[i]))
            {
                i += 1;
            }
            out.push(Tok::Date(chars[start..i].iter().collect()));
        } else if c == '%' || c == '$' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Var(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| format!("unexpected character `{c}`"))?;
            out.push(Tok::Op(op));
            i += op.len();
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- parser

struct Parser<'a> {
    tokens: Vec<Tok>,
    pos: usize,
    src: &'a str,
    /// Current recursion of the parser itself (parentheses, arguments, unary minus).
    nest: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(w)) if w == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, FhirPathError> {
        Err(err(self.src, message))
    }

    fn expect_op(&mut self, op: &str) -> Result<(), FhirPathError> {
        if self.eat_op(op) {
            Ok(())
        } else {
            match self.peek() {
                Some(t) => self.fail(format!("expected `{op}`, found `{}`", t.text())),
                None => self.fail(format!("expected `{op}` at the end")),
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, FhirPathError> {
        self.nested(Self::implies)
    }

    /// Runs one level of the parser's recursion, refusing to go deeper than allowed.
    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Expr, FhirPathError>,
    ) -> Result<Expr, FhirPathError> {
        if self.nest >= self.max_depth {
            return self.fail(format!(
                "nested more than {} deep (--max-depth)",
                self.max_depth
            ));
        }
        self.nest += 1;
        let r = f(self);
        self.nest -= 1;
        r
    }

    fn implies(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.or()?;
        while self.eat_word("implies") {
            let right = self.or()?;
            left = Expr::Binary(Box::new(left), BinOp::Implies, Box::new(right));
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.and()?;
        loop {
            let op = if self.eat_word("or") {
                BinOp::Or
            } else if self.eat_word("xor") {
                BinOp::Xor
            } else {
                return Ok(left);
            };
            let right = self.and()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn and(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.equality()?;
        while self.eat_word("and") {
            let right = self.equality()?;
            left = Expr::Binary(Box::new(left), BinOp::And, Box::new(right));
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.comparison()?;
        loop {
            let op = [
                ("=", BinOp::Eq),
                ("!=", BinOp::Ne),
                ("~", BinOp::Equiv),
                ("!~", BinOp::NotEquiv),
            ]
            .into_iter()
            .find(|(t, _)| self.eat_op(t));
            let Some((_, op)) = op else { return Ok(left) };
            let right = self.comparison()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn comparison(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.union()?;
        loop {
            let op = [
                ("<=", BinOp::Le),
                (">=", BinOp::Ge),
                ("<", BinOp::Lt),
                (">", BinOp::Gt),
            ]
            .into_iter()
            .find(|(t, _)| self.eat_op(t));
            let Some((_, op)) = op else { return Ok(left) };
            let right = self.union()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn union(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.additive()?;
        while self.eat_op("|") {
            let right = self.additive()?;
            left = Expr::Binary(Box::new(left), BinOp::Union, Box::new(right));
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, FhirPathError> {
        let mut left = self.unary()?;
        loop {
            let op = [("+", BinOp::Add), ("-", BinOp::Sub), ("&", BinOp::Concat)]
                .into_iter()
                .find(|(t, _)| self.eat_op(t));
            let Some((_, op)) = op else { return Ok(left) };
            let right = self.unary()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, FhirPathError> {
        if self.eat_op("-") {
            return Ok(Expr::Neg(Box::new(self.nested(Self::unary)?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, FhirPathError> {
        let mut e = self.primary()?;
        loop {
            if self.eat_op(".") {
                let Some(Tok::Ident(name)) = self.peek().cloned() else {
                    return self.fail("expected a name after `.`");
                };
                self.pos += 1;
                if self.eat_op("(") {
                    let args = self.args()?;
                    e = Expr::Call(Box::new(e), name, args);
                } else {
                    e = Expr::Member(Box::new(e), name);
                }
            } else if self.eat_op("[") {
                let idx = self.expr()?;
                self.expect_op("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                return Ok(e);
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Expr>, FhirPathError> {
        let mut args = Vec::new();
        if self.eat_op(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat_op(")") {
                return Ok(args);
            }
            self.expect_op(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, FhirPathError> {
        let Some(tok) = self.peek().cloned() else {
            return self.fail("unexpected end of expression");
        };
        self.pos += 1;
        Ok(match tok {
            Tok::Str(s) => Expr::Literal(Value::String(s)),
            Tok::Num(n, decimal) => Expr::Literal(number(n, decimal)),
            Tok::Date(d) => Expr::Literal(Value::String(d)),
            Tok::Var(v) => match v.as_str() {
                "$this" => Expr::This,
                "%resource" | "%context" | "%rootResource" => Expr::Resource,
                _ => return self.fail(format!("unknown variable `{v}`")),
            },
            Tok::Op("(") => {
                let e = self.expr()?;
                self.expect_op(")")?;
                e
            }
            Tok::Op("{") => {
                self.expect_op("}")?;
                Expr::Empty
            }
            Tok::Ident(w) if w == "true" => Expr::Literal(Value::Bool(true)),
            Tok::Ident(w) if w == "false" => Expr::Literal(Value::Bool(false)),
            Tok::Ident(w) if w == "not" && self.eat_op("(") => {
                // `not(x)` as a prefix call is common in hand-written checks.
                let mut args = self.args()?;
                if args.len() != 1 {
                    return self.fail("not() takes one argument");
                }
                Expr::Not(Box::new(args.remove(0)))
            }
            Tok::Ident(name) => {
                if self.eat_op("(") {
                    let args = self.args()?;
                    Expr::Call(Box::new(Expr::This), name, args)
                } else if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    Expr::Root(name)
                } else {
                    Expr::Member(Box::new(Expr::This), name)
                }
            }
            Tok::Op(o) => return self.fail(format!("unexpected `{o}`")),
        })
    }
}

fn number(n: f64, decimal: bool) -> Value {
    if !decimal && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

// ---------------------------------------------------------------- evaluation

struct Ctx<'a> {
    resource: &'a Value,
    /// Items produced so far by every sub-expression: the evaluation's work.
    work: std::cell::Cell<usize>,
}

/// Items one sub-expression may produce, items all of an evaluation may produce, and the bytes
/// of text one result may hold. Real expressions stay orders of magnitude below them; without
/// them `'x'.select($this & $this)` repeated thirty times doubles a string to gigabytes (found
/// by cargo-fuzz), and `select(1 | 2)` repeated doubles a collection.
const MAX_ITEMS: usize = 100_000;
const MAX_WORK: usize = 10_000_000;
const MAX_TEXT: usize = 16 << 20;

fn eval(e: &Expr, this: &[Value], ctx: &Ctx) -> Result<Vec<Value>, String> {
    let out = eval_node(e, this, ctx)?;
    let work = ctx.work.get() + out.len();
    ctx.work.set(work);
    if out.len() > MAX_ITEMS {
        return Err(format!(
            "a sub-expression produced more than {MAX_ITEMS} items"
        ));
    }
    if work > MAX_WORK {
        return Err(format!(
            "evaluation produced more than {MAX_WORK} items in all"
        ));
    }
    let text: usize = out
        .iter()
        .map(|v| match v {
            Value::String(s) => s.len(),
            _ => 0,
        })
        .sum();
    if text > MAX_TEXT {
        return Err(format!(
            "a sub-expression produced more than {MAX_TEXT} bytes of text"
        ));
    }
    Ok(out)
}

fn eval_node(e: &Expr, this: &[Value], ctx: &Ctx) -> Result<Vec<Value>, String> {
    Ok(match e {
        Expr::Literal(v) => vec![v.clone()],
        Expr::Empty => vec![],
        Expr::This => this.to_vec(),
        Expr::Resource => vec![ctx.resource.clone()],
        Expr::Root(name) => {
            let matches_type =
                |v: &Value| v.get("resourceType").and_then(Value::as_str) == Some(name.as_str());
            if this.iter().any(matches_type) {
                this.iter().filter(|v| matches_type(v)).cloned().collect()
            } else {
                // Not a type name after all (e.g. an element spelled with a capital): navigate.
                children(this, name)
            }
        }
        Expr::Member(base, name) => children(&eval(base, this, ctx)?, name),
        Expr::Index(base, idx) => {
            let items = eval(base, this, ctx)?;
            let i = single_int(&eval(idx, this, ctx)?)?;
            match i {
                Some(i) if i >= 0 => items.get(i as usize).cloned().into_iter().collect(),
                _ => vec![],
            }
        }
        Expr::Not(inner) => not(&eval(inner, this, ctx)?)?,
        Expr::Neg(inner) => {
            let v = eval(inner, this, ctx)?;
            match v.as_slice() {
                [] => vec![],
                [x] => match x.as_f64() {
                    Some(n) => vec![number(-n, x.is_f64())],
                    None => return Err("unary `-` needs a number".into()),
                },
                _ => return Err("unary `-` needs a single value".into()),
            }
        }
        Expr::Call(base, name, args) => {
            let input = eval(base, this, ctx)?;
            call(name, &input, args, ctx)?
        }
        Expr::Binary(l, op, r) => {
            let left = eval(l, this, ctx)?;
            let right = eval(r, this, ctx)?;
            binary(*op, left, right)?
        }
    })
}

fn children(items: &[Value], name: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for item in items {
        let Value::Object(map) = item else { continue };
        let found = map.get(name).or_else(|| {
            // Choice types: `value` finds `valueQuantity`, `valueString`, ...
            map.iter()
                .find(|(k, _)| {
                    k.len() > name.len()
                        && k.starts_with(name)
                        && k[name.len()..].starts_with(|c: char| c.is_ascii_uppercase())
                })
                .map(|(_, v)| v)
        });
        match found {
            Some(Value::Array(arr)) => out.extend(arr.iter().cloned()),
            Some(Value::Null) | None => {}
            Some(v) => out.push(v.clone()),
        }
    }
    out
}

fn single_int(v: &[Value]) -> Result<Option<i64>, String> {
    match v {
        [] => Ok(None),
        [x] => x
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("expected an integer, got {x}")),
        _ => Err("expected a single integer".into()),
    }
}

fn single_bool(v: &[Value]) -> Result<Option<bool>, String> {
    match v {
        [] => Ok(None),
        [Value::Bool(b)] => Ok(Some(*b)),
        // Singleton evaluation: a single non-boolean item counts as true.
        [_] => Ok(Some(true)),
        _ => Err(format!("expected a single boolean, got {} items", v.len())),
    }
}

fn single_str(v: &[Value]) -> Result<Option<String>, String> {
    match v {
        [] => Ok(None),
        [Value::String(s)] => Ok(Some(s.clone())),
        [x] => Err(format!("expected a string, got {x}")),
        _ => Err("expected a single string".into()),
    }
}

fn not(v: &[Value]) -> Result<Vec<Value>, String> {
    Ok(match single_bool(v)? {
        None => vec![],
        Some(b) => vec![Value::Bool(!b)],
    })
}

fn call(name: &str, input: &[Value], args: &[Expr], ctx: &Ctx) -> Result<Vec<Value>, String> {
    let arity = |n: usize| -> Result<(), String> {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{name}() takes {n} argument(s), got {}",
                args.len()
            ))
        }
    };
    // Evaluates an argument once against the whole input (not per item).
    let arg = |i: usize| eval(&args[i], input, ctx);
    let b = Value::Bool;
    Ok(match name {
        "exists" => {
            if args.is_empty() {
                vec![b(!input.is_empty())]
            } else {
                arity(1)?;
                vec![b(!filter(input, &args[0], ctx)?.is_empty())]
            }
        }
        "empty" => {
            arity(0)?;
            vec![b(input.is_empty())]
        }
        "count" => {
            arity(0)?;
            vec![Value::from(input.len())]
        }
        "first" => input.first().cloned().into_iter().collect(),
        "last" => input.last().cloned().into_iter().collect(),
        "tail" => input.iter().skip(1).cloned().collect(),
        "single" => match input {
            [] => vec![],
            [x] => vec![x.clone()],
            _ => return Err(format!("single() on {} items", input.len())),
        },
        "where" => {
            arity(1)?;
            filter(input, &args[0], ctx)?
        }
        "select" => {
            arity(1)?;
            let mut out = Vec::new();
            for item in input {
                out.extend(eval(&args[0], std::slice::from_ref(item), ctx)?);
            }
            out
        }
        "all" => {
            arity(1)?;
            let mut all = true;
            for item in input {
                all &=
                    single_bool(&eval(&args[0], std::slice::from_ref(item), ctx)?)? == Some(true);
            }
            vec![b(all)]
        }
        "not" => {
            arity(0)?;
            not(input)?
        }
        "distinct" => {
            let mut out: Vec<Value> = Vec::new();
            for v in input {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            out
        }
        "hasValue" => vec![b(matches!(input, [v] if !v.is_object() && !v.is_array()))],
        "ofType" => {
            arity(1)?;
            let (Expr::Root(t) | Expr::Member(_, t)) = &args[0] else {
                return Err("ofType() takes a type name".into());
            };
            input
                .iter()
                .filter(|v| v.get("resourceType").and_then(Value::as_str) == Some(t.as_str()))
                .cloned()
                .collect()
        }
        "toString" => match input {
            [] => vec![],
            [Value::String(s)] => vec![Value::String(s.clone())],
            [v] => vec![Value::String(v.to_string())],
            _ => return Err("toString() on several items".into()),
        },
        "toInteger" => match input {
            [] => vec![],
            [Value::Number(n)] if n.is_i64() => vec![Value::Number(n.clone())],
            [Value::String(s)] => s.parse::<i64>().map(Value::from).into_iter().collect(),
            _ => vec![],
        },
        "length" => match single_str(input)? {
            None => vec![],
            Some(s) => vec![Value::from(s.chars().count())],
        },
        "contains" | "startsWith" | "endsWith" | "matches" => {
            arity(1)?;
            let Some(s) = single_str(input)? else {
                return Ok(vec![]);
            };
            let Some(needle) = single_str(&arg(0)?)? else {
                return Ok(vec![]);
            };
            vec![b(match name {
                "contains" => s.contains(&needle),
                "startsWith" => s.starts_with(&needle),
                "endsWith" => s.ends_with(&needle),
                _ => regex::Regex::new(&needle)
                    .map_err(|e| format!("bad regex: {e}"))?
                    .is_match(&s),
            })]
        }
        "iif" => {
            if args.len() < 2 {
                return Err("iif() takes 2 or 3 arguments".into());
            }
            if single_bool(&arg(0)?)? == Some(true) {
                arg(1)?
            } else if args.len() > 2 {
                arg(2)?
            } else {
                vec![]
            }
        }
        _ => return Err(format!("unsupported function `{name}()`")),
    })
}

fn filter(input: &[Value], criteria: &Expr, ctx: &Ctx) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for item in input {
        let r = eval(criteria, std::slice::from_ref(item), ctx)?;
        if single_bool(&r)? == Some(true) {
            out.push(item.clone());
        }
    }
    Ok(out)
}

fn binary(op: BinOp, left: Vec<Value>, right: Vec<Value>) -> Result<Vec<Value>, String> {
    use BinOp::*;
    let b = |x: bool| vec![Value::Bool(x)];
    Ok(match op {
        And | Or | Xor | Implies => {
            let (l, r) = (single_bool(&left)?, single_bool(&right)?);
            // Three-valued logic from the specification: empty is "unknown".
            let result = match op {
                And => match (l, r) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                Or => match (l, r) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                Xor => match (l, r) {
                    (Some(a), Some(c)) => Some(a != c),
                    _ => None,
                },
                _ => match (l, r) {
                    (Some(false), _) | (_, Some(true)) => Some(true),
                    (Some(true), Some(false)) => Some(false),
                    _ => None,
                },
            };
            result.map(b).unwrap_or_default()
        }
        Eq | Ne => {
            if left.is_empty() || right.is_empty() {
                return Ok(vec![]);
            }
            let same = left.len() == right.len()
                && left.iter().zip(&right).all(|(a, c)| values_equal(a, c));
            b(same == (op == Eq))
        }
        Equiv | NotEquiv => {
            let same = left.len() == right.len()
                && left
                    .iter()
                    .zip(&right)
                    .all(|(a, c)| values_equivalent(a, c));
            b(same == (op == Equiv))
        }
        Lt | Le | Gt | Ge => {
            let (l, r) = match (left.as_slice(), right.as_slice()) {
                ([l], [r]) => (l, r),
                ([], _) | (_, []) => return Ok(vec![]),
                _ => return Err("comparison needs single values".into()),
            };
            let ord = compare(l, r).ok_or_else(|| format!("cannot compare {l} with {r}"))?;
            b(match op {
                Lt => ord.is_lt(),
                Le => ord.is_le(),
                Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        Union => {
            let mut out = left;
            for v in right {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            out
        }
        Concat => {
            let l = single_str(&left)?.unwrap_or_default();
            let r = single_str(&right)?.unwrap_or_default();
            vec![Value::String(l + &r)]
        }
        Add | Sub => match (left.as_slice(), right.as_slice()) {
            ([], _) | (_, []) => vec![],
            ([Value::String(l)], [Value::String(r)]) if op == Add => {
                vec![Value::String(format!("{l}{r}"))]
            }
            ([l], [r]) => {
                let (Some(x), Some(y)) = (l.as_f64(), r.as_f64()) else {
                    return Err(format!("cannot add/subtract {l} and {r}"));
                };
                let n = if op == Add { x + y } else { x - y };
                vec![number(n, l.is_f64() || r.is_f64())]
            }
            _ => return Err("arithmetic needs single values".into()),
        },
    })
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn values_equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            let norm = |s: &str| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            norm(x) == norm(y)
        }
        _ => values_equal(a, b),
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        // Dates and times in FHIR are ISO 8601 text, which orders correctly at equal precision.
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patient() -> Value {
        json!({
            "resourceType": "Patient",
            "id": "p1",
            "name": [{"family": "Doe", "given": ["Jane", "Q"]}, {"family": "Roe"}],
            "identifier": [{"system": "urn:mrn", "value": "MRN1"}],
            "birthDate": "1980-01-01",
            "active": true
        })
    }

    fn eval_str(expr: &str, v: &Value) -> Vec<Value> {
        FhirPath::parse(expr).unwrap().evaluate(v).unwrap()
    }

    #[test]
    fn paths_flatten_collections() {
        let p = patient();
        assert_eq!(
            eval_str("Patient.name.family", &p),
            vec![json!("Doe"), json!("Roe")]
        );
        assert_eq!(eval_str("name.given", &p), vec![json!("Jane"), json!("Q")]);
        assert_eq!(eval_str("Patient.name[1].family", &p), vec![json!("Roe")]);
        assert_eq!(eval_str("Observation.status", &p), Vec::<Value>::new());
    }

    #[test]
    fn booleans_and_functions() {
        let p = patient();
        for (expr, want) in [
            ("Patient.name.count() = 2", true),
            ("Patient.name.where(family = 'Roe').exists()", true),
            ("Patient.identifier.where(system = 'urn:x').empty()", true),
            ("Patient.birthDate < @1990-01-01", true),
            ("Patient.active and Patient.id = 'p1'", true),
            ("Patient.name.first().given.first() = 'Jane'", true),
            (
                "Patient.id.startsWith('p') and Patient.id.length() = 2",
                true,
            ),
            ("Patient.gender.exists() or Patient.active", true),
            ("Patient.name.all(family.exists())", true),
            ("not(Patient.active)", false),
        ] {
            let got = FhirPath::parse(expr).and_then(|e| e.is_true(&p));
            assert_eq!(got, Ok(want), "{expr}");
        }
    }

    #[test]
    fn choice_types_resolve() {
        let obs = json!({"resourceType": "Observation", "valueQuantity": {"value": 7.2, "unit": "mmol/L"}});
        assert_eq!(eval_str("Observation.value.value", &obs), vec![json!(7.2)]);
        assert!(FhirPath::parse("Observation.value.value > 7")
            .unwrap()
            .is_true(&obs)
            .unwrap());
    }

    #[test]
    fn bundle_total_and_entries() {
        let b = json!({"resourceType": "Bundle", "total": 1, "entry": [{"resource": {"resourceType": "Patient", "id": "x"}}]});
        assert!(FhirPath::parse("Bundle.total = 1")
            .unwrap()
            .is_true(&b)
            .unwrap());
        assert_eq!(
            eval_str("Bundle.entry.resource.ofType(Patient).id", &b),
            vec![json!("x")]
        );
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        let e = FhirPath::parse(&deep).unwrap_err();
        assert!(e.message.contains("--max-depth"), "{e}");
        let chain = format!("Patient{}", ".name".repeat(20_000));
        assert!(FhirPath::parse(&chain)
            .unwrap_err()
            .message
            .contains("deep"));
        let minus = format!("{}1", "-".repeat(5000));
        assert!(FhirPath::parse(&minus).is_err());
        assert!(FhirPath::parse("Patient.name.given.first()").is_ok());
    }

    #[test]
    fn growth_is_bounded_not_a_crash() {
        // Found by cargo-fuzz (fuzz/regressions/fhirpath-select-concat-doubling): each step
        // doubles the string; thirty-one steps are gigabytes.
        let doubling = format!("'x'{}", ".select($this&$this)".repeat(31));
        let p = FhirPath::parse(&doubling).expect("parses");
        let e = p.evaluate(&serde_json::json!({})).unwrap_err();
        assert!(e.message.contains("bytes of text"), "{e}");
        let items = format!("'1'{}", ".select(1|2)".repeat(40));
        let e = FhirPath::parse(&items)
            .expect("parses")
            .evaluate(&serde_json::json!({}))
            .unwrap_err();
        assert!(e.message.contains("items"), "{e}");
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(FhirPath::parse("Patient.name.where(").is_err());
        assert!(FhirPath::parse("Patient..name").is_err());
        assert!(FhirPath::parse("'open").is_err());
        let e = FhirPath::parse("Patient.name.frobnicate()")
            .unwrap()
            .evaluate(&patient());
        assert!(e.unwrap_err().message.contains("frobnicate"));
    }
}
