//! The signature table of the builtins: argument and result types, for the synthesizer and
//! `introspect.type_analysis`.
//!
//! Types are words: `any nil bool int float number string keyword symbol list vector map
//! regex error fn` (any callable, §3.3), `seqable` (nil, list, vector, map or string, §5.0),
//! `coll` (list, vector or map), `named` (string, keyword or symbol) and `schema` (a type
//! expression as data). `T?` means T or nil; a parameter in brackets (`[int]`) is optional,
//! one ending in `...` takes any number of arguments.

use std::collections::HashMap;
use std::sync::OnceLock;

/// One builtin's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The builtin's primary name.
    pub name: &'static str,
    /// Parameter types in order (optional ones in brackets, a variadic one ends in `...`).
    pub params: Vec<&'static str>,
    /// The result type.
    pub returns: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
}

impl Signature {
    /// Fewest arguments.
    pub fn min_args(&self) -> usize {
        self.params
            .iter()
            .filter(|p| !p.starts_with('[') && !p.ends_with("..."))
            .count()
    }

    /// Most arguments (None: variadic).
    pub fn max_args(&self) -> Option<usize> {
        // A variadic parameter may sit before fixed trailing ones (`apply f a… coll`).
        if self.params.iter().any(|p| p.ends_with("...")) {
            None
        } else {
            Some(self.params.len())
        }
    }
}

const TABLE: &str = "\
+ | number number... | number | sum; Integer overflow is :error/arithmetic
- | number number... | number | negation or left-fold difference
* | number number... | number | product
/ | number number... | number | left-fold quotient; a whole Float result becomes an Integer
inc | number | number | plus one
dec | number | number | minus one
max | number number... | number | the greatest argument (the later on a tie)
min | number number... | number | the least argument (the later on a tie)
abs | number | number | absolute value
quot | number number | number | truncating quotient
rem | number number | number | remainder with the dividend's sign
mod | number number | number | floored modulus with the divisor's sign
sqrt | number | float | square root
pow | number number | number | power; Integer for Integer base and non-negative exponent
factorial | int | int | n! for 0 ≤ n ≤ 20
round | number | int | round half away from zero
floor | number | int | round down
ceil | number | int | round up
even? | int | bool | even
odd? | int | bool | odd
zero? | number | bool | zero
pos? | number | bool | positive
neg? | number | bool | negative
= | any any... | bool | structural equality
not= | any any... | bool | not equal
== | number number... | bool | numeric equality across Integer and Float
< | number number... | bool | strictly increasing
> | number number... | bool | strictly decreasing
<= | number number... | bool | non-decreasing
>= | number number... | bool | non-increasing
compare | any any | int | -1, 0 or 1 by the canonical order
not | any | bool | logical negation
boolean | any | bool | truthiness
nil? | any | bool | is nil
some? | any | bool | is not nil
true? | any | bool | is exactly true
false? | any | bool | is exactly false
boolean? | any | bool | is a boolean
int? | any | bool | is an Integer
float? | any | bool | is a Float
number? | any | bool | is a number
string? | any | bool | is a string
keyword? | any | bool | is a keyword
symbol? | any | bool | is a symbol
fn? | any | bool | is a function
vector? | any | bool | is a vector
list? | any | bool | is a list
map? | any | bool | is a map
coll? | any | bool | is a list, vector or map
sequential? | any | bool | is a list or vector
error? | any | bool | is an error value
regex? | any | bool | is a regex
type-name | any | string | the kind's name
int | any | int | convert to Integer (strings parsed, else 0)
float | any | float | convert to Float (strings parsed, else 0.0)
parse-int | any | int? | parse an Integer, or nil
parse-float | any | float? | parse a Float, or nil
identity | any | any | its argument
constantly | any | fn | a function always returning the value
str | any... | string | concatenated text
pr-str | any... | string | printed forms joined by spaces
keyword | named [named] | keyword? | a keyword from text
symbol | named [named] | symbol? | a symbol from text
name | named | string | the name part
namespace | named | string? | the namespace part
subs | string int [int] | string | characters [start, end)
format | string any... | string | %s %d %f %.Nf %% formatting
str/join | [string] seqable | string | items joined by a separator
str/split | string any | vector | split at a literal string or regex, keeping empty parts
str/split-lines | string | vector | lines
str/upper-case | string | string | upper case
str/lower-case | string | string | lower case
str/capitalize | string | string | first character upper, rest lower
str/trim | string | string | trim whitespace at both ends
str/triml | string | string | trim whitespace at the start
str/trimr | string | string | trim whitespace at the end
str/blank? | string? | bool | nil, empty or only whitespace
str/includes? | string string | bool | substring test
str/starts-with? | string string | bool | prefix test
str/ends-with? | string string | bool | suffix test
str/index-of | string string [int] | int? | character index of the first occurrence
str/replace | string any string | string | replace every match of a string or regex
str/reverse | string | string | characters reversed
re-pattern | string | regex | compile a regex
re-find | any string | any | first match (a vector of groups when the pattern has groups)
re-matches | any string | any | whole-string match
re-seq | any string | vector | all matches
vector | any... | vector | a vector of the arguments
list | any... | list | a list of the arguments
hash-map | any... | map | a map from key/value arguments
get | any any [any] | any | value at a key or index, else the default
get-in | any seqable [any] | any | get along a path
nth | seqable int [any] | any | item at an index
first | seqable | any | first item
second | seqable | any | second item
last | seqable | any | last item
count | seqable | int | number of items
length | seqable | int | number of items (nil is an error)
string-length | string | int | number of characters
empty? | seqable | bool | no items
not-empty | seqable | seqable? | nil when empty
seq | seqable | vector? | the items, or nil when empty
contains? | any any | bool | key or index present
find | map any | vector? | the [key value] entry
keys | map | vector | keys in canonical order
vals | map | vector | values in canonical key order
vec | seqable | vector | the items as a vector
rest | seqable | vector | all but the first
next | seqable | vector? | all but the first, nil when none
butlast | seqable | vector | all but the last
cons | any seqable | vector | the item, then the items
conj | [coll?] any... | coll | add items (vector: end, list: front, map: entries)
concat | seqable... | vector | all items in order
into | coll seqable | coll | conj every item
take | int seqable | vector | the first n items
drop | int seqable | vector | all but the first n items
reverse | seqable | vector | items reversed
distinct | seqable | vector | first occurrences
range | int [int] [int] | vector | Integers from start below end by step
numbers | int int | vector | inclusive Integer range
repeat | int any | vector | n copies
partition | int [int] seqable | vector | complete chunks of n every step items
partition-all | int seqable | vector | chunks of n, the last may be short
subvec | vector int [int] | vector | slice [start, end)
flatten | any | vector | the non-sequential leaves
interpose | any seqable | vector | separator between items
frequencies | seqable | map | item → count
assoc | coll any any any... | coll | set keys (or vector indices)
dissoc | map? any... | map? | remove keys
assoc-in | coll? seqable any | coll | nested assoc
merge | map?... | map? | later maps win
select-keys | map seqable | map | only the listed keys
zipmap | seqable seqable | map | keys paired with values
rename-keys | map map | map | rename keys
map | fn seqable seqable... | vector | f on the items (in step)
map-indexed | fn seqable | vector | f on index and item
mapcat | fn seqable seqable... | vector | concatenated results of f
filter | fn seqable | vector | items where f is truthy
remove | fn seqable | vector | items where f is falsy
keep | fn seqable | vector | non-nil results of f
reduce | fn [any] seqable | any | left fold
reduce-kv | fn any map | any | left fold over entries
apply | fn any... seqable | any | call f with arguments and the items of a final collection
every? | fn seqable | bool | f truthy for every item
some | fn seqable | any | first truthy result of f
not-any? | fn seqable | bool | f truthy for no item
not-every? | fn seqable | bool | f falsy for some item
max-key | fn any any... | any | the argument with the greatest (f x)
min-key | fn any any... | any | the argument with the least (f x)
take-while | fn seqable | vector | prefix where f is truthy
drop-while | fn seqable | vector | rest after that prefix
sort | [fn] seqable | vector | stable sort by canonical order or a comparator
sort-by | fn [fn] seqable | vector | stable sort by a key
group-by | fn seqable | map | (f x) → items giving it
update | coll? any fn any... | coll | apply f to the value at a key
update-in | coll? seqable fn any... | coll | apply f at a path
update-vals | map fn | map | f on each value
update-keys | map fn | map | f on each key
merge-with | fn map? map?... | map? | merge, combining collisions with f
comp | fn... | fn | composition, right to left
partial | fn any... | fn | fix leading arguments
juxt | fn fn... | fn | vector of each function's result
complement | fn | fn | logical negation of the result
ex-info | any any [any] | error | an error value (kind?, message, data?)
throw | any [any] [any] | nil | raise an error (never returns)
ex-message | any | string? | an error's message
ex-data | any | map? | an error's data
ex-kind | any | keyword? | an error's kind
valid? | schema any | bool | whether the value satisfies the schema
validate | schema any | any | the value, or :error/schema
call | named any... | any | run a capability through the host
resource:ref | named | any | a named resource handle from the host
parse-json | string | any | JSON text to a value
serialize-json | any | string | compact JSON
serialize-json-pretty | any | string | indented JSON
read-string | string | any | read one form as data
";

fn table() -> &'static HashMap<&'static str, Signature> {
    static T: OnceLock<HashMap<&'static str, Signature>> = OnceLock::new();
    T.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let parts: Vec<&'static str> = l.splitn(4, " | ").collect();
                let sig = Signature {
                    name: parts[0],
                    params: parts[1].split_whitespace().collect(),
                    returns: parts[2],
                    doc: parts.get(3).copied().unwrap_or(""),
                };
                (sig.name, sig)
            })
            .collect()
    })
}

/// The signature of a builtin, by any of its names.
pub fn signature(name: &str) -> Option<&'static Signature> {
    let b = super::builtin(name)?;
    table().get(b.name)
}

/// Every signature, by primary name.
pub fn signatures() -> impl Iterator<Item = &'static Signature> {
    table().values()
}
