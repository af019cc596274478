//! SQLite placeholders.
//!
//! Statements are written with `$1`-style placeholders, which SQLite accepts as *named* parameters.
//! sqlx binds a named parameter by asking SQLite for its name, and SQLite finds a name by walking
//! the statement's list of names, so binding a statement with n placeholders costs O(n²): a
//! 200-row insert spent more time there than inserting. Anonymous `?` placeholders are bound by
//! position without any lookup, so SQLite statements are rewritten to them, with the arguments
//! put in the order their placeholders appear (repeated once per use).

use sea_query::Value;

/// `text` with every `$N` outside quotes and comments replaced by `?`, and the arguments in
/// the order of the placeholders. A statement without `$N` placeholders (one built with `?`
/// already) or that refers to an argument it does not have is returned unchanged, so the driver
/// binds or reports it as it would have.
pub(crate) fn positional(text: &str, args: Vec<Value>) -> (String, Vec<Value>) {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut order: Vec<usize> = Vec::with_capacity(args.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                // A quoted string or identifier, skipped whole. A doubled quote inside it ends
                // this scan and starts the next, which skips the rest just the same.
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |end| i + 2 + end + 2);
            }
            b'$' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let number = text[i + 1..i + 1 + digits].parse::<usize>().ok();
                match number {
                    Some(n) if (1..=args.len()).contains(&n) => {
                        out.push_str(&text[copied..i]);
                        out.push('?');
                        order.push(n - 1);
                        i += 1 + digits;
                        copied = i;
                    }
                    Some(_) => return (text.to_owned(), args),
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    if order.is_empty() {
        return (text.to_owned(), args);
    }
    out.push_str(&text[copied..]);
    if order.len() == args.len() && order.iter().enumerate().all(|(at, n)| at == *n) {
        return (out, args);
    }
    let args = order.into_iter().map(|n| args[n].clone()).collect();
    (out, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(values: &[i64]) -> Vec<Value> {
        values.iter().map(|v| Value::from(*v)).collect()
    }

    #[test]
    fn placeholders_in_order_keep_their_arguments() {
        let (text, args) = positional(
            "INSERT INTO t VALUES ($1, $2), ($3, $4)",
            ints(&[1, 2, 3, 4]),
        );
        assert_eq!(text, "INSERT INTO t VALUES (?, ?), (?, ?)");
        assert_eq!(args, ints(&[1, 2, 3, 4]));
    }

    #[test]
    fn repeated_and_reordered_placeholders_repeat_and_reorder_arguments() {
        let (text, args) = positional(
            "UPDATE t SET a = $2 WHERE (b = $1 AND c <= $3) OR d < $3",
            ints(&[10, 20, 30]),
        );
        assert_eq!(text, "UPDATE t SET a = ? WHERE (b = ? AND c <= ?) OR d < ?");
        assert_eq!(args, ints(&[20, 10, 30, 30]));
    }

    #[test]
    fn quotes_and_comments_are_left_alone() {
        let (text, args) = positional(
            "SELECT '$1', \"$2\", json_extract(x, '$.a') -- $1\n FROM t /* $2 */ WHERE a = $1 AND b = 'it''s $2'",
            ints(&[7, 8]),
        );
        assert_eq!(
            text,
            "SELECT '$1', \"$2\", json_extract(x, '$.a') -- $1\n FROM t /* $2 */ WHERE a = ? AND b = 'it''s $2'"
        );
        assert_eq!(args, ints(&[7]));
    }

    #[test]
    fn statements_with_question_marks_are_left_alone() {
        let (text, args) = positional("SELECT a FROM t WHERE a = ? AND b = ?", ints(&[1, 2]));
        assert_eq!(text, "SELECT a FROM t WHERE a = ? AND b = ?");
        assert_eq!(args, ints(&[1, 2]));
    }

    #[test]
    fn a_placeholder_without_an_argument_leaves_the_statement_as_written() {
        let (text, args) = positional("SELECT $1, $3", ints(&[1, 2]));
        assert_eq!(text, "SELECT $1, $3");
        assert_eq!(args, ints(&[1, 2]));
        let (text, args) = positional("SELECT $0", ints(&[1]));
        assert_eq!(text, "SELECT $0");
        assert_eq!(args, ints(&[1]));
    }
}
