//! Python `jmespath` 0.10's top-down operator-precedence parser, ported rule for rule so that
//! expressions group as they do for StreamAlert: `a.*.b.c` applies `.c` to the projected list
//! (null), `a[0][1:]` does not project, `&` takes everything up to the next `,` or `)`.

use super::JmesPathError;
use super::ast::{Comparator, Expr};
use super::functions::Function;
use super::lexer::{Spanned, Token, tokenize};

/// Tokens whose binding power is below this end a projection's right-hand side.
const PROJECTION_STOP: u8 = 10;

fn binding_power(token: &Token) -> u8 {
    match token {
        Token::Pipe => 1,
        Token::Or => 2,
        Token::And => 3,
        Token::Eq | Token::Ne | Token::Lt | Token::Lte | Token::Gt | Token::Gte => 5,
        Token::Flatten => 9,
        Token::Star => 20,
        Token::Filter => 21,
        Token::Dot => 40,
        Token::Not => 45,
        Token::Lbrace => 50,
        Token::Lbracket => 55,
        Token::Lparen => 60,
        _ => 0,
    }
}

const STAR: u8 = 20;
const DOT: u8 = 40;

pub(super) fn parse(expression: &str) -> Result<Expr, JmesPathError> {
    let mut parser = Parser {
        tokens: tokenize(expression)?,
        index: 0,
    };
    let expr = parser.expression(0)?;
    match parser.current() {
        Token::Eof => Ok(expr),
        _ => Err(parser.unexpected("unexpected token")),
    }
}

struct Parser {
    tokens: Vec<Spanned>,
    index: usize,
}

impl Parser {
    fn current(&self) -> &Token {
        &self.tokens[self.index.min(self.tokens.len() - 1)].0
    }

    fn peek(&self, ahead: usize) -> &Token {
        &self.tokens[(self.index + ahead).min(self.tokens.len() - 1)].0
    }

    fn advance(&mut self) -> Token {
        let token = self.current().clone();
        self.index += 1;
        token
    }

    fn unexpected(&self, reason: &str) -> JmesPathError {
        let (token, at) = &self.tokens[self.index.min(self.tokens.len() - 1)];
        if *token == Token::Eof {
            JmesPathError::Syntax("incomplete expression".into())
        } else {
            JmesPathError::Syntax(format!("{reason} at character {at}: {token:?}"))
        }
    }

    fn expect(&mut self, token: Token) -> Result<(), JmesPathError> {
        if *self.current() == token {
            self.index += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {token:?}")))
        }
    }

    fn expression(&mut self, power: u8) -> Result<Expr, JmesPathError> {
        let token = self.advance();
        let mut left = self.nud(token)?;
        while power < binding_power(self.current()) {
            let token = self.current().clone();
            if matches!(token, Token::Not | Token::Lbrace | Token::Star) {
                return Err(self.unexpected("invalid token"));
            }
            self.index += 1;
            left = self.led(token, left)?;
        }
        Ok(left)
    }

    fn nud(&mut self, token: Token) -> Result<Expr, JmesPathError> {
        Ok(match token {
            Token::Literal(value) => Expr::Literal(value),
            Token::Identifier(name) => Expr::Field(name),
            Token::QuotedIdentifier(name) => {
                if *self.current() == Token::Lparen {
                    return Err(self.unexpected("a function name cannot be quoted"));
                }
                Expr::Field(name)
            }
            Token::Star => {
                let right = if *self.current() == Token::Rbracket {
                    Expr::Identity
                } else {
                    self.projection_rhs(STAR)?
                };
                value_projection(Expr::Identity, right)
            }
            Token::Filter => self.filter(Expr::Identity)?,
            Token::Lbrace => self.multi_select_hash()?,
            Token::Lparen => {
                let inner = self.expression(0)?;
                self.expect(Token::Rparen)?;
                inner
            }
            Token::Flatten => {
                let right = self.projection_rhs(binding_power(&Token::Flatten))?;
                Expr::Projection(
                    Box::new(Expr::Flatten(Box::new(Expr::Identity))),
                    Box::new(right),
                )
            }
            Token::Not => Expr::Not(Box::new(self.expression(binding_power(&Token::Not))?)),
            Token::Lbracket => match (self.current(), self.peek(1)) {
                (Token::Number(_) | Token::Colon, _) => {
                    let right = self.index_expression()?;
                    self.project_if_slice(Expr::Identity, right)?
                }
                (Token::Star, Token::Rbracket) => {
                    self.index += 2;
                    let right = self.projection_rhs(STAR)?;
                    Expr::Projection(Box::new(Expr::Identity), Box::new(right))
                }
                _ => self.multi_select_list()?,
            },
            Token::Current => Expr::Identity,
            Token::Expref => Expr::Expref(Box::new(self.expression(0)?)),
            _ => {
                self.index -= 1;
                return Err(self.unexpected("invalid token"));
            }
        })
    }

    fn led(&mut self, token: Token, left: Expr) -> Result<Expr, JmesPathError> {
        Ok(match token {
            Token::Dot => {
                if *self.current() == Token::Star {
                    self.index += 1;
                    let right = self.projection_rhs(DOT)?;
                    value_projection(left, right)
                } else {
                    let right = self.dot_rhs(DOT)?;
                    Expr::Subexpr(Box::new(left), Box::new(right))
                }
            }
            Token::Pipe => Expr::Subexpr(Box::new(left), Box::new(self.expression(1)?)),
            Token::Or => Expr::Or(Box::new(left), Box::new(self.expression(2)?)),
            Token::And => Expr::And(Box::new(left), Box::new(self.expression(3)?)),
            Token::Lparen => self.call(left)?,
            Token::Filter => self.filter(left)?,
            Token::Eq => self.comparison(Comparator::Eq, left)?,
            Token::Ne => self.comparison(Comparator::Ne, left)?,
            Token::Lt => self.comparison(Comparator::Lt, left)?,
            Token::Lte => self.comparison(Comparator::Lte, left)?,
            Token::Gt => self.comparison(Comparator::Gt, left)?,
            Token::Gte => self.comparison(Comparator::Gte, left)?,
            Token::Flatten => {
                let right = self.projection_rhs(binding_power(&Token::Flatten))?;
                Expr::Projection(Box::new(Expr::Flatten(Box::new(left))), Box::new(right))
            }
            Token::Lbracket => {
                if matches!(self.current(), Token::Number(_) | Token::Colon) {
                    let right = self.index_expression()?;
                    match left {
                        // `a[0][1:]` extends the chain and, unlike `a[1:]`, does not project.
                        Expr::IndexChain(mut chain) => {
                            chain.push(right);
                            Expr::IndexChain(chain)
                        }
                        other => self.project_if_slice(other, right)?,
                    }
                } else {
                    self.expect(Token::Star)?;
                    self.expect(Token::Rbracket)?;
                    let right = self.projection_rhs(STAR)?;
                    Expr::Projection(Box::new(left), Box::new(right))
                }
            }
            _ => {
                self.index -= 1;
                return Err(self.unexpected("invalid token"));
            }
        })
    }

    fn comparison(&mut self, comparator: Comparator, left: Expr) -> Result<Expr, JmesPathError> {
        let right = self.expression(5)?;
        Ok(Expr::Comparison(
            comparator,
            Box::new(left),
            Box::new(right),
        ))
    }

    fn call(&mut self, left: Expr) -> Result<Expr, JmesPathError> {
        let Expr::Field(name) = left else {
            return Err(self.unexpected("only a name can be called"));
        };
        let mut args = Vec::new();
        while *self.current() != Token::Rparen {
            if *self.current() == Token::Eof {
                return Err(self.unexpected("unclosed call"));
            }
            let arg = self.expression(0)?;
            if *self.current() == Token::Comma {
                self.index += 1;
            }
            args.push(arg);
        }
        self.expect(Token::Rparen)?;
        let function = Function::by_name(&name).ok_or(JmesPathError::UnknownFunction { name })?;
        function.check_arity(args.len())?;
        Ok(Expr::Call(function, args))
    }

    fn filter(&mut self, left: Expr) -> Result<Expr, JmesPathError> {
        let condition = self.expression(0)?;
        self.expect(Token::Rbracket)?;
        let right = if *self.current() == Token::Flatten {
            Expr::Identity
        } else {
            self.projection_rhs(binding_power(&Token::Filter))?
        };
        Ok(Expr::Projection(
            Box::new(left),
            Box::new(Expr::Condition(Box::new(condition), Box::new(right))),
        ))
    }

    /// `[n]` or `[start:stop:step]`, the opening bracket already consumed.
    fn index_expression(&mut self) -> Result<Expr, JmesPathError> {
        if *self.current() == Token::Colon || *self.peek(1) == Token::Colon {
            return self.slice();
        }
        let Token::Number(n) = self.advance() else {
            self.index -= 1;
            return Err(self.unexpected("expected a number"));
        };
        self.expect(Token::Rbracket)?;
        Ok(Expr::Index(n))
    }

    fn slice(&mut self) -> Result<Expr, JmesPathError> {
        let mut parts = [None, None, None];
        let mut part = 0;
        while *self.current() != Token::Rbracket {
            match self.current() {
                Token::Colon => {
                    part += 1;
                    if part == 3 {
                        return Err(self.unexpected("too many colons in a slice"));
                    }
                    self.index += 1;
                }
                Token::Number(n) => {
                    parts[part] = Some(*n);
                    self.index += 1;
                }
                _ => return Err(self.unexpected("syntax error in a slice")),
            }
        }
        self.expect(Token::Rbracket)?;
        let [start, stop, step] = parts;
        Ok(Expr::Slice {
            start,
            stop,
            step: step.unwrap_or(1),
        })
    }

    fn project_if_slice(&mut self, left: Expr, right: Expr) -> Result<Expr, JmesPathError> {
        let is_slice = matches!(right, Expr::Slice { .. });
        let chain = Expr::IndexChain(vec![left, right]);
        if is_slice {
            let rhs = self.projection_rhs(STAR)?;
            Ok(Expr::Projection(Box::new(chain), Box::new(rhs)))
        } else {
            Ok(chain)
        }
    }

    fn multi_select_list(&mut self) -> Result<Expr, JmesPathError> {
        let mut items = Vec::new();
        loop {
            items.push(self.expression(0)?);
            if *self.current() == Token::Rbracket {
                break;
            }
            self.expect(Token::Comma)?;
        }
        self.expect(Token::Rbracket)?;
        Ok(Expr::MultiList(items))
    }

    fn multi_select_hash(&mut self) -> Result<Expr, JmesPathError> {
        let mut pairs = Vec::new();
        loop {
            let key = match self.advance() {
                Token::Identifier(name) | Token::QuotedIdentifier(name) => name,
                _ => {
                    self.index -= 1;
                    return Err(self.unexpected("expected a key name"));
                }
            };
            self.expect(Token::Colon)?;
            pairs.push((key, self.expression(0)?));
            match self.current() {
                Token::Comma => self.index += 1,
                Token::Rbrace => {
                    self.index += 1;
                    break;
                }
                _ => {}
            }
        }
        Ok(Expr::MultiHash(pairs))
    }

    fn projection_rhs(&mut self, power: u8) -> Result<Expr, JmesPathError> {
        match self.current() {
            token if binding_power(token) < PROJECTION_STOP => Ok(Expr::Identity),
            Token::Lbracket | Token::Filter => self.expression(power),
            Token::Dot => {
                self.index += 1;
                self.dot_rhs(power)
            }
            _ => Err(self.unexpected("syntax error after a projection")),
        }
    }

    fn dot_rhs(&mut self, power: u8) -> Result<Expr, JmesPathError> {
        match self.current() {
            Token::Identifier(_) | Token::QuotedIdentifier(_) | Token::Star => {
                self.expression(power)
            }
            Token::Lbracket => {
                self.index += 1;
                self.multi_select_list()
            }
            Token::Lbrace => {
                self.index += 1;
                self.multi_select_hash()
            }
            _ => Err(self.unexpected("expected a name, '*', '[' or '{' after '.'")),
        }
    }
}

/// `left.*` / `*`: the values of an object, each through `right`.
fn value_projection(left: Expr, right: Expr) -> Expr {
    Expr::Projection(
        Box::new(Expr::ObjectValues(Box::new(left))),
        Box::new(right),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_projections_stop_at_the_next_dot_as_in_python() {
        // Python jmespath: a.*.b.c is (a.*.b).c, and *.b.c keeps projecting.
        let led = parse("a.*.b.c").unwrap();
        assert!(matches!(led, Expr::Subexpr(_, ref c) if **c == Expr::Field("c".into())));
        let nud = parse("*.b.c").unwrap();
        assert!(matches!(nud, Expr::Projection(..)));
    }

    #[test]
    fn index_chains_do_not_project_a_later_slice() {
        assert!(matches!(parse("a[0][1:]").unwrap(), Expr::IndexChain(ref c) if c.len() == 3));
        assert!(matches!(parse("a[1:]").unwrap(), Expr::Projection(..)));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "a[", "a.", "a b", "[?a", "{a: b", "'a'(b)", "\"f\"(a)", "a.[0]", "a[*]*", "&",
            "length(a",
        ] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
        assert!(matches!(
            parse("nope(@)"),
            Err(JmesPathError::UnknownFunction { .. })
        ));
        assert!(matches!(
            parse("length(a, b)"),
            Err(JmesPathError::Arity { .. })
        ));
        assert!(matches!(parse("merge()"), Err(JmesPathError::Arity { .. })));
        assert!(parse("not_null(a, b, c)").is_ok());
    }
}
