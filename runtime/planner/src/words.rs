//! Words as the goal reader compares them: lower case, split on anything that is not a letter,
//! a digit, `.` inside a number, `-` or `'` inside a word; singular and plural forms; the
//! common abbreviations of field names.

/// The words of `text`, lower-cased, in order.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let joins = |c: char| {
            // `-` and `'` inside a word, `.` between digits.
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            match c {
                '-' | '\'' => {
                    prev.is_some_and(char::is_alphanumeric)
                        && next.is_some_and(char::is_alphanumeric)
                }
                '.' => {
                    prev.is_some_and(|p| p.is_ascii_digit())
                        && next.is_some_and(|n| n.is_ascii_digit())
                }
                _ => false,
            }
        };
        if c.is_alphanumeric()
            || (c == '-' && cur.is_empty() && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit()))
            || joins(c)
        {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The singular of an English plural, by the common rules (`cities` → `city`, `boxes` →
/// `box`, `books` → `book`); words that are not plurals come back as they are.
pub fn singular(w: &str) -> String {
    let irregular = [
        ("people", "person"),
        ("children", "child"),
        ("men", "man"),
        ("women", "woman"),
        ("data", "datum"),
        ("indices", "index"),
        ("statuses", "status"),
        ("analyses", "analysis"),
    ];
    if let Some((_, s)) = irregular.iter().find(|(p, _)| *p == w) {
        return (*s).to_string();
    }
    if w.len() <= 3 || w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") {
        return w.to_string();
    }
    if let Some(stem) = w.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for end in ["ches", "shes", "sses", "xes", "zes"] {
        if let Some(stem) = w.strip_suffix(end) {
            return format!("{stem}{}", &end[..end.len() - 2]);
        }
    }
    match w.strip_suffix('s') {
        Some(stem) => stem.to_string(),
        None => w.to_string(),
    }
}

/// Whether two words name the same thing: equal, singular and plural of one another, or one
/// the common abbreviation of the other (`dept` / `department`).
pub fn same(a: &str, b: &str) -> bool {
    if a == b || singular(a) == singular(b) {
        return true;
    }
    let (a, b) = (singular(a), singular(b));
    ABBREVIATIONS
        .iter()
        .any(|(short, long)| (a == *short && b == *long) || (a == *long && b == *short))
}

/// Abbreviations of field names people type either way.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("dept", "department"),
    ("qty", "quantity"),
    ("amt", "amount"),
    ("num", "number"),
    ("desc", "description"),
    ("cat", "category"),
    ("addr", "address"),
    ("temp", "temperature"),
    ("pop", "population"),
    ("org", "organization"),
    ("org", "organisation"),
    ("mgr", "manager"),
    ("emp", "employee"),
    ("dur", "duration"),
    ("yr", "year"),
    ("pct", "percent"),
    ("usr", "user"),
    ("msg", "message"),
    ("prio", "priority"),
    ("ver", "version"),
];

/// The words of a field or dataset name (`unit_price` → `unit`, `price`).
pub fn name_words(name: &str) -> Vec<String> {
    name.split(['_', '-', ' ', '.'])
        .filter(|w| !w.is_empty())
        .flat_map(split_camel)
        .map(|w| w.to_lowercase())
        .collect()
}

fn split_camel(w: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in w.chars() {
        if c.is_uppercase() && !cur.is_empty() && cur.chars().last().is_some_and(char::is_lowercase)
        {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A number written as a word or digits (`3`, `2.5`, `three`, `ten`).
pub fn number(w: &str) -> Option<f64> {
    const WORDS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    if let Some(i) = WORDS.iter().position(|n| *n == w) {
        return Some(i as f64);
    }
    if !w
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-')
    {
        return None;
    }
    w.parse::<f64>().ok().filter(|n| n.is_finite())
}
