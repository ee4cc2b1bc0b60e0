//! Property tests of erasure and access against real SQLite databases.
//!
//! Each case is a random schema (2 to 7 tables; foreign keys forming chains, trees, diamonds,
//! self-references and cycles through nullable columns, some declared as `relations` only), a
//! declaration for it (one or more tables of people identified by e-mail, personal columns
//! with their erasure strategies, table strategies, legal holds running from date columns,
//! the `owner` of every table that could belong to more than one person, and some keys
//! declared as mentions severed with `null`) and random data shared between several people,
//! with rows that refer to two people. The real planner plans and the real executor runs; the
//! database is then checked with plain SQL against the test's own model of ownership (the
//! rows of tables of people that carry the address, and every row that belongs to one of the
//! person's rows through its owning key, at any depth; any other key to a row of someone is a
//! mention):
//!
//! 1. no foreign key is broken, nor any declared relation;
//! 2. outside held rows nothing identifies the person: the e-mail address appears nowhere
//!    (a copy of it is kept in the rows the person owns), and every personal column (not `keep`) of the person's remaining
//!    rows holds its masked value (held rows: the columns their holds pseudonymise);
//! 3. rows another person owns (and rows of no one) are unchanged, but for their keys declared
//!    as mentions severed with `null`, cleared where they referred to the person; only the
//!    person's rows are deleted, never a held one or one of a table whose strategy is `mask`
//!    or `keep`;
//! 4. erasing again changes nothing;
//! 5. a dry run changes nothing;
//! 6. what erasure may delete and no row refers to any more is gone;
//!
//! and access returns exactly the person's rows, and as "records that mention you" exactly
//! the rows of others that refer to them, never with their owners' personal columns.
//!
//! A failing case prints its SQL and declaration. `PROPTEST_CASES` sets the number of cases.
//! The failures these properties found are kept below as named tests, which also run on
//! PostgreSQL and MariaDB when `scripts/test.sh` provides them.

use pledge_connect::{Database, Error, Options, Outcome, Who, pseudonym};
use pledge_lang::model::Engine;
use pledge_lang::rights::RequestKind;
use pledge_lang::time::CivilTime;
use pledge_lang::types::IsoDuration;
use pledge_lang::{Declaration, SourceMap, load};
use pledge_plan::{self as plan, Plan, Value};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use sqlx::{Row, TypeInfo, ValueRef};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU32, Ordering};

const KEY: &[u8] = b"property-test-key";
/// 2026-11-18 11:06:40 UTC.
const NOW: i64 = 1_795_000_000;
const PERIODS: [&str; 4] = ["P1Y", "P6M", "P30D", "P5Y"];
const DAY: i64 = 86_400;

// ---------------------------------------------------------------------------------------------
// The generated case.

#[derive(Clone, Copy, Debug, PartialEq)]
enum ColumnErasure {
    Null,
    Fixed,
    Hmac,
    Keep,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum TableErasure {
    /// Not written: the planner's default, delete.
    Default,
    Delete,
    Mask,
    Keep,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Text,
    Integer,
    Date,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    /// A value of its own.
    Plain,
    /// The e-mail address that identifies the person (tables of people).
    Email,
    /// A copy of the e-mail address of the person the row belongs to, through its first key.
    Copy,
}

#[derive(Clone, Debug)]
struct Column {
    name: String,
    kind: Kind,
    nullable: bool,
    erasure: ColumnErasure,
    role: Role,
}

#[derive(Clone, Debug)]
struct Fk {
    column: String,
    target: usize,
    nullable: bool,
    /// Declared in the declaration's `relations`, not in the database.
    relation: bool,
}

#[derive(Clone, Debug)]
struct Hold {
    /// The date column the period runs from (and whether it is nullable); none: always held.
    after: Option<(String, bool)>,
    period: &'static str,
    cutoff: i64,
    pseudonymise: Vec<String>,
}

/// Whose rows a table holds, as this test works it out on its own.
#[derive(Clone, Debug, PartialEq)]
enum Owning {
    /// A table of people.
    Person,
    /// Rows belong to the owner of the row their key `fk` (an index into `fks`) refers to;
    /// in a cycle, rows whose `fk` is NULL belong to the row `through` refers to.
    Via { fk: usize, through: Option<usize> },
    /// Rows of no one.
    Nobody,
}

#[derive(Clone, Debug)]
struct Table {
    name: String,
    person: bool,
    declared: bool,
    erasure: TableErasure,
    fks: Vec<Fk>,
    owning: Owning,
    /// The `owner` the declaration names (where more than one key could make the row someone's).
    owner: Option<String>,
    /// Keys declared `mentions.<key> = { erase = "null" }`: cleared when they refer to the
    /// person erased and the row is not the person's.
    sever: Vec<usize>,
    /// Declared personal columns.
    columns: Vec<Column>,
    holds: Vec<Hold>,
}

/// One row: its id and a value per column (keys, personal columns, dates).
#[derive(Clone, Debug)]
struct Record {
    id: i64,
    values: BTreeMap<String, Value>,
}

#[derive(Clone)]
struct Case {
    tables: Vec<Table>,
    rows: Vec<Vec<Record>>,
    target: String,
    sql: String,
    toml: String,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n-- erasing and reading {}", self.target)?;
        writeln!(f, "{}", self.sql)?;
        writeln!(f, "{}", self.toml)
    }
}

fn email(person: usize) -> String {
    format!("person{person}@example.com")
}

fn cutoff(period: &str) -> i64 {
    let period: IsoDuration = period.parse().expect("a valid period");
    CivilTime::from_unix(NOW).minus(&period).to_unix()
}

// ---------------------------------------------------------------------------------------------
// Generators: raw random choices, then a builder that makes them consistent.

#[derive(Clone, Debug)]
struct RawTable {
    person: bool,
    declared: bool,
    erasure: TableErasure,
    email: (bool, ColumnErasure),
    copy: Option<(bool, ColumnErasure)>,
    fks: Vec<(usize, bool, bool)>,
    columns: Vec<(Kind, bool, ColumnErasure)>,
    holds: Vec<(Option<bool>, usize, u8)>,
    /// Which candidate the declaration names as `owner` where there are several.
    owner_choice: usize,
    /// Per key: declare it a mention severed with `null` (where the key allows NULL).
    sever: u8,
}

#[derive(Clone, Debug)]
struct RawRow {
    who: usize,
    refs: Vec<Option<usize>>,
    dates: Vec<usize>,
    nulls: u8,
}

fn column_erasure() -> impl Strategy<Value = ColumnErasure> {
    prop_oneof![
        Just(ColumnErasure::Null),
        Just(ColumnErasure::Fixed),
        Just(ColumnErasure::Hmac),
        Just(ColumnErasure::Keep),
    ]
}

fn raw_table() -> impl Strategy<Value = RawTable> {
    let email_erasure = prop_oneof![
        3 => Just(ColumnErasure::Hmac),
        2 => Just(ColumnErasure::Null),
        2 => Just(ColumnErasure::Fixed),
        1 => Just(ColumnErasure::Keep),
    ];
    let table_erasure = prop_oneof![
        3 => Just(TableErasure::Default),
        2 => Just(TableErasure::Delete),
        2 => Just(TableErasure::Mask),
        1 => Just(TableErasure::Keep),
    ];
    let kind = prop_oneof![
        3 => Just(Kind::Text),
        1 => Just(Kind::Integer),
        1 => Just(Kind::Date),
    ];
    (
        prop::bool::weighted(0.4),
        prop::bool::weighted(0.75),
        table_erasure,
        (any::<bool>(), email_erasure),
        prop::option::weighted(0.3, (any::<bool>(), column_erasure())),
        prop::collection::vec((0usize..7, any::<bool>(), prop::bool::weighted(0.2)), 0..=3),
        prop::collection::vec((kind, any::<bool>(), column_erasure()), 0..=2),
        // Most tables have no hold, some one, a few two.
        (
            prop::collection::vec(
                (
                    prop::option::weighted(0.85, any::<bool>()),
                    0..PERIODS.len(),
                    any::<u8>(),
                ),
                2,
            ),
            prop_oneof![6 => Just(0usize), 3 => Just(1), 1 => Just(2)],
        )
            .prop_map(|(mut holds, n)| {
                holds.truncate(n);
                holds
            }),
        (0usize..6, any::<u8>()),
    )
        .prop_map(
            |(
                person,
                declared,
                erasure,
                email,
                copy,
                fks,
                columns,
                holds,
                (owner_choice, sever),
            )| {
                RawTable {
                    person,
                    declared,
                    erasure,
                    email,
                    copy,
                    fks,
                    columns,
                    holds,
                    owner_choice,
                    sever,
                }
            },
        )
}

fn raw_row() -> impl Strategy<Value = RawRow> {
    (
        0usize..5,
        prop::collection::vec(prop::option::weighted(0.85, 0usize..6), 3),
        prop::collection::vec(0usize..DATES, 2),
        any::<u8>(),
    )
        .prop_map(|(who, refs, dates, nulls)| RawRow {
            who,
            refs,
            dates,
            nulls,
        })
}

/// How far a date lies from its hold's cut-off, in seconds (or a date without time on the day
/// that far off); the first is NULL.
const DATES: usize = 11;

fn date_value(choice: usize, cutoff: i64) -> Value {
    let at = |offset: i64| Value::Text(CivilTime::from_unix(cutoff + offset).to_string());
    let day = |offset_days: i64| {
        let text = CivilTime::from_unix(cutoff + offset_days * DAY).to_string();
        Value::Text(text[..10].to_string())
    };
    match choice {
        0 => Value::Null,
        1 => at(-400 * DAY),
        2 => at(-DAY),
        3 => at(-1),
        4 => at(0),
        5 => at(1),
        6 => at(DAY),
        7 => at(400 * DAY),
        8 => day(-1),
        9 => day(0),
        _ => day(1),
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(raw_table(), 2..=7),
        prop::collection::vec(prop::collection::vec(raw_row(), 0..=5), 7),
        2usize..=4,
        0usize..4,
    )
        .prop_map(|(tables, rows, people, target)| build(tables, rows, people, target % people))
}

fn build(raw: Vec<RawTable>, raw_rows: Vec<Vec<RawRow>>, people: usize, target: usize) -> Case {
    let n = raw.len();
    let any_person = raw.iter().any(|t| t.person);
    let mut tables: Vec<Table> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let person = r.person || (!any_person && i == 0);
        let name = if person {
            format!("p{i}")
        } else {
            format!("t{i}")
        };
        let declared = person || r.declared;
        let mut fks: Vec<Fk> = Vec::new();
        for (k, &(target, nullable, relation)) in r.fks.iter().enumerate() {
            let target = target % n;
            fks.push(Fk {
                column: format!("f{k}"),
                target,
                // A NOT NULL key only to a table made earlier, whose rows are known by then.
                nullable: nullable || target >= i,
                relation,
            });
        }
        let mut columns = Vec::new();
        if person {
            columns.push(Column {
                name: "email".into(),
                kind: Kind::Text,
                nullable: r.email.0,
                erasure: r.email.1,
                role: Role::Email,
            });
        }
        if declared {
            for (k, &(kind, nullable, erasure)) in r.columns.iter().enumerate() {
                columns.push(Column {
                    name: format!("c{k}"),
                    kind,
                    nullable,
                    erasure,
                    role: Role::Plain,
                });
            }
            if let (Some((nullable, erasure)), false) = (r.copy, person) {
                columns.push(Column {
                    name: "contact".into(),
                    kind: Kind::Text,
                    nullable,
                    erasure,
                    role: Role::Copy,
                });
            }
        }
        let mut holds = Vec::new();
        if declared {
            for (k, &(after, period, bits)) in r.holds.iter().enumerate() {
                let period = PERIODS[period];
                holds.push(Hold {
                    after: after.map(|nullable| (format!("d{k}"), nullable)),
                    period,
                    cutoff: cutoff(period),
                    pseudonymise: columns
                        .iter()
                        .enumerate()
                        .filter(|(b, _)| bits & (1 << b) != 0)
                        .map(|(_, c)| c.name.clone())
                        .collect(),
                });
            }
        }
        tables.push(Table {
            name,
            person,
            declared,
            erasure: if declared {
                r.erasure
            } else {
                TableErasure::Default
            },
            fks,
            owning: if person {
                Owning::Person
            } else {
                Owning::Nobody
            },
            owner: None,
            sever: Vec::new(),
            columns,
            holds,
        });
    }
    ownership(&mut tables, &raw);

    // Rows: how many each table has (a row needing a NOT NULL key into an empty table is
    // dropped; such keys point to earlier tables only), then their values.
    let mut kept: Vec<Vec<&RawRow>> = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let mut seen = BTreeSet::new();
        let rows: Vec<&RawRow> = raw_rows[i]
            .iter()
            .filter(|r| {
                // One row per person in a table of people; any number of strangers.
                !t.person || r.who % (people + 1) == people || seen.insert(r.who % (people + 1))
            })
            .filter(|r| {
                t.fks
                    .iter()
                    .zip(&r.refs)
                    .all(|(fk, _)| fk.nullable || !kept[fk.target].is_empty())
            })
            .collect();
        kept.push(rows);
    }
    let counts: Vec<usize> = kept.iter().map(Vec::len).collect();
    let mut rows: Vec<Vec<Record>> = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let mut out = Vec::new();
        for (r, raw) in kept[i].iter().enumerate() {
            let id = r as i64 + 1;
            let mut values = BTreeMap::new();
            for (fk, choice) in t.fks.iter().zip(&raw.refs) {
                let available = counts[fk.target];
                let value = match choice {
                    _ if available == 0 => Value::Null,
                    None if fk.nullable => Value::Null,
                    None => Value::Int(1),
                    Some(k) => Value::Int((k % available) as i64 + 1),
                };
                values.insert(fk.column.clone(), value);
            }
            for (k, c) in t.columns.iter().enumerate() {
                let null = c.nullable && raw.nulls & (1 << k) != 0;
                let value = match c.role {
                    Role::Email => {
                        let who = raw.who % (people + 1);
                        if who < people {
                            Value::Text(email(who))
                        } else if c.nullable {
                            Value::Null
                        } else {
                            Value::Text(format!("stranger.{}.{id}@example.com", t.name))
                        }
                    }
                    // Filled in below, once every row exists.
                    Role::Copy => Value::Null,
                    Role::Plain if null => Value::Null,
                    Role::Plain => match c.kind {
                        Kind::Text => Value::Text(format!("{}.{}.{id}", t.name, c.name)),
                        Kind::Integer => Value::Int(1000 * i as i64 + 10 * id + k as i64 + 1),
                        Kind::Date => Value::Text(format!("19{:02}-0{}-1{}", 50 + id, k + 1, i)),
                    },
                };
                values.insert(c.name.clone(), value);
            }
            for (h, choice) in t.holds.iter().zip(&raw.dates) {
                if let Some((column, nullable)) = &h.after {
                    let choice = if *nullable || *choice != 0 {
                        *choice
                    } else {
                        4
                    };
                    values.insert(column.clone(), date_value(choice, h.cutoff));
                }
            }
            out.push(Record { id, values });
        }
        rows.push(out);
    }
    // Copies of the e-mail address of the person a row belongs to, through its first key.
    for i in 0..tables.len() {
        let Some(c) = tables[i].columns.iter().find(|c| c.role == Role::Copy) else {
            continue;
        };
        for r in 0..rows[i].len() {
            let owner = owner(&tables, &rows, i, r, &mut BTreeSet::new());
            let value = match owner {
                Some(e) => Value::Text(e),
                None if c.nullable => Value::Null,
                None => Value::Text("nobody@example.com".into()),
            };
            rows[i][r].values.insert(c.name.clone(), value);
        }
    }
    let mut case = Case {
        tables,
        rows,
        target: email(target),
        sql: String::new(),
        toml: String::new(),
    };
    case.sql = sql(&case);
    case.toml = toml(&case);
    case
}

/// The e-mail address of the person row `r` of table `t` belongs to, following first keys.
fn owner(
    tables: &[Table],
    rows: &[Vec<Record>],
    t: usize,
    r: usize,
    seen: &mut BTreeSet<(usize, usize)>,
) -> Option<String> {
    if !seen.insert((t, r)) {
        return None;
    }
    let row = &rows[t][r];
    if tables[t].person {
        return match row.values.get("email") {
            Some(Value::Text(e)) if !e.starts_with("stranger") => Some(e.clone()),
            _ => None,
        };
    }
    let Owning::Via { fk, through } = &tables[t].owning else {
        return None;
    };
    let via = &tables[t].fks[*fk];
    let path = match row.values.get(&via.column) {
        Some(Value::Int(_)) => Some(via),
        _ => through.map(|k| &tables[t].fks[k]),
    };
    match path.and_then(|fk| Some((fk, row.values.get(&fk.column)?))) {
        Some((fk, Value::Int(id))) => owner(tables, rows, fk.target, (*id - 1) as usize, seen),
        _ => None,
    }
}

/// Each table's cycle of references: the tables it reaches through keys and that reach it,
/// the keys of tables of people left out (they are never a way to an owner).
fn cycle_of(tables: &[Table], i: usize) -> BTreeSet<usize> {
    let reach = |from: usize| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(t) = stack.pop() {
            if tables[t].person {
                continue;
            }
            for fk in &tables[t].fks {
                if seen.insert(fk.target) {
                    stack.push(fk.target);
                }
            }
        }
        seen
    };
    let mine = reach(i);
    mine.iter()
        .copied()
        .filter(|&o| reach(o).contains(&i))
        .collect()
}

/// Whose rows each table holds, from the keys alone: a table's candidates are its keys to
/// tables of people or to owned tables, outside its own cycle. One makes the rows owned;
/// several need the declaration to name one (`owner`, chosen at random here); none leaves
/// the rows no one's, except in a cycle, where the one key to another member (not a table of
/// people) owns them. Keys that are not the owning one are mentions, some declared severed.
fn ownership(tables: &mut [Table], raw: &[RawTable]) {
    let n = tables.len();
    let cycles: Vec<BTreeSet<usize>> = (0..n).map(|i| cycle_of(tables, i)).collect();
    // With the keys of tables of people: one candidate into such a cycle is no guess either.
    let circles: Vec<BTreeSet<usize>> = (0..n)
        .map(|i| {
            let reach = |from: usize| {
                let mut seen = BTreeSet::new();
                let mut stack = vec![from];
                while let Some(t) = stack.pop() {
                    for fk in &tables[t].fks {
                        if seen.insert(fk.target) {
                            stack.push(fk.target);
                        }
                    }
                }
                seen
            };
            let mine = reach(i);
            mine.into_iter()
                .filter(|&o| reach(o).contains(&i))
                .collect()
        })
        .collect();
    // None: undecided; Some(true): rows of someone; Some(false): rows of no one.
    let mut decided: Vec<Option<bool>> = tables.iter().map(|t| t.person.then_some(true)).collect();
    let mut in_cycle: Vec<Option<usize>> = vec![None; n];
    loop {
        let mut changed = false;
        for i in 0..n {
            if decided[i].is_some() || in_cycle[i].is_some() {
                continue;
            }
            let outside: Vec<usize> = (0..tables[i].fks.len())
                .filter(|&k| !cycles[i].contains(&tables[i].fks[k].target))
                .collect();
            if outside
                .iter()
                .any(|&k| decided[tables[i].fks[k].target].is_none())
            {
                continue;
            }
            let candidates: Vec<usize> = outside
                .into_iter()
                .filter(|&k| decided[tables[i].fks[k].target] == Some(true))
                .collect();
            let inside: Vec<usize> = (0..tables[i].fks.len())
                .filter(|&k| {
                    let t = tables[i].fks[k].target;
                    cycles[i].contains(&t) && t != i && !tables[t].person
                })
                .collect();
            let pick = |list: &[usize]| list[raw[i].owner_choice % list.len()];
            changed = true;
            let circular =
                candidates.len() == 1 && circles[i].contains(&tables[i].fks[candidates[0]].target);
            match (candidates.len(), inside.len()) {
                (1, _) if !circular => {
                    tables[i].owning = Owning::Via {
                        fk: candidates[0],
                        through: None,
                    };
                    decided[i] = Some(true);
                }
                (0, 0) => decided[i] = Some(false),
                (0, _) => {
                    let k = pick(&inside);
                    if inside.len() > 1 {
                        tables[i].owner = Some(tables[i].fks[k].column.clone());
                    }
                    in_cycle[i] = Some(k);
                }
                _ => {
                    let k = pick(&candidates);
                    tables[i].owner = Some(tables[i].fks[k].column.clone());
                    tables[i].owning = Owning::Via {
                        fk: k,
                        through: None,
                    };
                    decided[i] = Some(true);
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Cycle members owned through another member, as those get owners.
    loop {
        let mut changed = false;
        for i in 0..n {
            let Some(k) = in_cycle[i] else { continue };
            if decided[i].is_some() {
                continue;
            }
            let Some(parent) = decided[tables[i].fks[k].target] else {
                continue;
            };
            if parent {
                tables[i].owning = Owning::Via {
                    fk: k,
                    through: None,
                };
            }
            decided[i] = Some(parent);
            changed = true;
        }
        if !changed {
            break;
        }
    }
    // Rows without an owner of their own belong through their one key into the cycle.
    for i in 0..n {
        let Owning::Via { fk, through: None } = tables[i].owning else {
            continue;
        };
        let via = &tables[i].fks[fk];
        if cycles[i].contains(&via.target) || !via.nullable {
            continue;
        }
        let inside: Vec<usize> = (0..tables[i].fks.len())
            .filter(|&k| {
                let t = tables[i].fks[k].target;
                cycles[i].contains(&t) && matches!(tables[t].owning, Owning::Via { .. })
            })
            .collect();
        if let [k] = inside[..] {
            tables[i].owning = Owning::Via {
                fk,
                through: Some(k),
            };
        }
    }
    // Mentions declared severed: nullable keys to rows of someone, other than the owning one.
    for i in 0..n {
        let owning = match tables[i].owning {
            Owning::Via { fk, .. } => Some(fk),
            _ => None,
        };
        let sever: Vec<usize> = (0..tables[i].fks.len())
            .filter(|&k| Some(k) != owning && raw[i].sever & (1 << k) != 0)
            .filter(|&k| tables[i].fks[k].nullable)
            .filter(|&k| {
                let t = tables[i].fks[k].target;
                !matches!(tables[t].owning, Owning::Nobody)
            })
            .collect();
        tables[i].sever = sever;
    }
}

fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
        other => panic!("no literal for {other:?}"),
    }
}

fn date_columns(t: &Table) -> impl Iterator<Item = &(String, bool)> {
    t.holds.iter().filter_map(|h| h.after.as_ref())
}

fn sql(case: &Case) -> String {
    let mut s = String::from("PRAGMA foreign_keys = OFF;\n");
    for t in &case.tables {
        let mut defs = vec!["\"id\" INTEGER PRIMARY KEY".to_string()];
        for fk in &t.fks {
            let references = if fk.relation {
                String::new()
            } else {
                format!(" REFERENCES \"{}\" (\"id\")", case.tables[fk.target].name)
            };
            defs.push(format!(
                "\"{}\" INTEGER{}{references}",
                fk.column,
                if fk.nullable { "" } else { " NOT NULL" },
            ));
        }
        for c in &t.columns {
            let ty = match c.kind {
                Kind::Text => "TEXT",
                Kind::Integer => "INTEGER",
                Kind::Date => "DATE",
            };
            defs.push(format!(
                "\"{}\" {ty}{}",
                c.name,
                if c.nullable { "" } else { " NOT NULL" }
            ));
        }
        for (d, nullable) in date_columns(t) {
            defs.push(format!(
                "\"{d}\" DATETIME{}",
                if *nullable { "" } else { " NOT NULL" }
            ));
        }
        let _ = writeln!(s, "CREATE TABLE \"{}\" ({});", t.name, defs.join(", "));
    }
    for (t, rows) in case.tables.iter().zip(&case.rows) {
        for row in rows {
            let names: Vec<String> = std::iter::once("\"id\"".to_string())
                .chain(row.values.keys().map(|k| format!("\"{k}\"")))
                .collect();
            let values: Vec<String> = std::iter::once(row.id.to_string())
                .chain(row.values.values().map(literal))
                .collect();
            let _ = writeln!(
                s,
                "INSERT INTO \"{}\" ({}) VALUES ({});",
                t.name,
                names.join(", "),
                values.join(", ")
            );
        }
    }
    s.push_str("PRAGMA foreign_keys = ON;\n");
    s
}

const TOML_HEAD: &str = r#"[controller]
name = "Property Tests Ltd"

[[subjects]]
id = "people"
name = "People"

[[purposes]]
id = "service"
name = "Service"
subjects = ["people"]
categories = ["contact.email", "identity.name"]
legal_bases = ["contract"]

[[datasets]]
id = "props"
connection_env = "PROPS_DATABASE_URL"
"#;

fn toml(case: &Case) -> String {
    let mut s = String::from(TOML_HEAD);
    for t in &case.tables {
        if !t.declared && t.owner.is_none() && t.sever.is_empty() {
            continue;
        }
        let _ = write!(s, "\n[[datasets.tables]]\nname = \"{}\"\n", t.name);
        if let Some(owner) = &t.owner {
            let _ = writeln!(s, "owner = \"{owner}\"");
        }
        if !t.sever.is_empty() {
            let list: Vec<String> = t
                .sever
                .iter()
                .map(|&k| {
                    format!(
                        "{} = {{ erase = \"null\", reason = \"cleared\" }}",
                        t.fks[k].column
                    )
                })
                .collect();
            let _ = writeln!(s, "mentions = {{ {} }}", list.join(", "));
        }
        if !t.declared {
            continue;
        }
        if t.person {
            s.push_str("subject = \"people\"\nidentity = { email = \"email\" }\n");
        }
        let erasure = match t.erasure {
            TableErasure::Default => None,
            TableErasure::Delete => Some("delete"),
            TableErasure::Mask => Some("mask"),
            TableErasure::Keep => Some("keep"),
        };
        if let Some(e) = erasure {
            let _ = writeln!(s, "erasure = \"{e}\"");
        }
        let columns: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                let category = if c.role == Role::Plain {
                    "identity.name"
                } else {
                    "contact.email"
                };
                let erasure = match (c.erasure, c.kind) {
                    (ColumnErasure::Null, _) => "\"null\"",
                    (ColumnErasure::Fixed, Kind::Integer) => "{ fixed = \"-1\" }",
                    (ColumnErasure::Fixed, Kind::Date) => "{ fixed = \"1900-01-01\" }",
                    (ColumnErasure::Fixed, Kind::Text) => "{ fixed = \"erased\" }",
                    (ColumnErasure::Hmac, _) => "\"hmac\"",
                    (ColumnErasure::Keep, _) => "\"keep\"",
                };
                format!(
                    "{} = {{ category = \"{category}\", erasure = {erasure} }}",
                    c.name
                )
            })
            .collect();
        if !columns.is_empty() {
            let _ = writeln!(s, "columns = {{ {} }}", columns.join(", "));
        }
        let holds: Vec<String> = t
            .holds
            .iter()
            .enumerate()
            .map(|(k, h)| {
                let after = h
                    .after
                    .as_ref()
                    .map(|(c, _)| format!(", after = \"{c}\""))
                    .unwrap_or_default();
                let list: Vec<String> = h.pseudonymise.iter().map(|c| format!("\"{c}\"")).collect();
                format!(
                    "{{ reason = \"hold {k}\", law = \"Act § {k}\", period = \"{}\"{after}, pseudonymise = [{}] }}",
                    h.period,
                    list.join(", ")
                )
            })
            .collect();
        if !holds.is_empty() {
            let _ = writeln!(s, "holds = [{}]", holds.join(", "));
        }
    }
    for t in &case.tables {
        for fk in t.fks.iter().filter(|fk| fk.relation) {
            let _ = write!(
                s,
                "\n[[datasets.relations]]\nfrom = \"{}.{}\"\nto = \"{}.id\"\n",
                t.name, fk.column, case.tables[fk.target].name
            );
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// The expectations, computed from the generated data alone.

type Key = (String, i64);

/// The person's rows: the rows of tables of people that carry the address, and every row that
/// belongs to one of the person's rows through its owning key, at any depth (or, with that key
/// NULL, through its key into its cycle). Other references are mentions: not followed.
fn reachable(case: &Case) -> BTreeSet<Key> {
    let mut reached: BTreeSet<(usize, i64)> = BTreeSet::new();
    for (i, t) in case.tables.iter().enumerate() {
        if t.person {
            for row in &case.rows[i] {
                if row.values.get("email") == Some(&Value::Text(case.target.clone())) {
                    reached.insert((i, row.id));
                }
            }
        }
    }
    loop {
        let before = reached.len();
        for (i, rows) in case.rows.iter().enumerate() {
            for row in rows {
                if belongs(case, i, row, &|t, id| reached.contains(&(t, id))) {
                    reached.insert((i, row.id));
                }
            }
        }
        if reached.len() == before {
            break;
        }
    }
    reached
        .into_iter()
        .map(|(i, id)| (case.tables[i].name.clone(), id))
        .collect()
}

/// Whether the row belongs to a row `parent` says is in the set: through its owning key, or
/// with that key NULL through its key into its cycle.
fn belongs(case: &Case, table: usize, row: &Record, parent: &dyn Fn(usize, i64) -> bool) -> bool {
    let t = &case.tables[table];
    let Owning::Via { fk, through } = t.owning else {
        return false;
    };
    let refers = |k: usize| match row.values.get(&t.fks[k].column) {
        Some(Value::Int(id)) => Some(parent(t.fks[k].target, *id)),
        _ => None,
    };
    match refers(fk) {
        Some(found) => found,
        None => through.and_then(refers).unwrap_or(false),
    }
}

/// Rows the person's rows refer to, one level up, in declared tables with personal columns
/// that no one owns and that the search downwards does not enter (their address, say):
/// the person's too, for access. Erasure masks those no one else refers to and leaves them.
fn upward(case: &Case, reached: &BTreeSet<Key>) -> BTreeSet<Key> {
    // The tables the search downwards enters: tables of people, and the tables they own.
    let mut entered: Vec<bool> = case.tables.iter().map(|t| t.person).collect();
    loop {
        let before = entered.clone();
        for (i, t) in case.tables.iter().enumerate() {
            let owned = match t.owning {
                Owning::Via { fk, through } => {
                    entered[t.fks[fk].target] || through.is_some_and(|k| entered[t.fks[k].target])
                }
                _ => false,
            };
            if owned {
                entered[i] = true;
            }
        }
        if entered == before {
            break;
        }
    }
    let mut out = BTreeSet::new();
    for (i, t) in case.tables.iter().enumerate() {
        if !entered[i] {
            continue;
        }
        for fk in &t.fks {
            let u = &case.tables[fk.target];
            if fk.target == i
                || entered[fk.target]
                || u.owning != Owning::Nobody
                || u.columns.is_empty()
            {
                continue;
            }
            for row in &case.rows[i] {
                if let (true, Some(Value::Int(id))) = (
                    reached.contains(&(t.name.clone(), row.id)),
                    row.values.get(&fk.column),
                ) {
                    out.insert((u.name.clone(), *id));
                }
            }
        }
    }
    out
}

/// Whether no row but the person's refers to the row.
fn only_the_persons(case: &Case, reached: &BTreeSet<Key>, key: &Key) -> bool {
    case.tables.iter().zip(&case.rows).all(|(t, rows)| {
        t.fks
            .iter()
            .filter(|fk| case.tables[fk.target].name == key.0)
            .all(|fk| {
                rows.iter().all(|row| {
                    row.values.get(&fk.column) != Some(&Value::Int(key.1))
                        || reached.contains(&(t.name.clone(), row.id))
                })
            })
    })
}

/// The person's rows erasure may delete: rows no hold keeps, in tables of people or referring
/// to such rows.
fn deletable(case: &Case, reached: &BTreeSet<Key>) -> BTreeSet<Key> {
    let mut out: BTreeSet<Key> = BTreeSet::new();
    loop {
        let before = out.len();
        for (i, t) in case.tables.iter().enumerate() {
            for row in &case.rows[i] {
                let key = (t.name.clone(), row.id);
                if !reached.contains(&key)
                    || out.contains(&key)
                    || !case.active_holds(&t.name, row.id).is_empty()
                {
                    continue;
                }
                let through = belongs(case, i, row, &|t, id| {
                    out.contains(&(case.tables[t].name.clone(), id))
                });
                if t.person || through {
                    out.insert(key);
                }
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// The mentions of the person: (table, row, key column) of every row that is not the person's
/// and refers to one of the person's rows through a key other than its owning one.
fn mentions(case: &Case, reached: &BTreeSet<Key>) -> BTreeSet<(String, i64, String)> {
    let mut out = BTreeSet::new();
    for (i, t) in case.tables.iter().enumerate() {
        let owning = match t.owning {
            Owning::Via { fk, .. } => Some(fk),
            _ => None,
        };
        for row in &case.rows[i] {
            if reached.contains(&(t.name.clone(), row.id)) {
                continue;
            }
            for (k, fk) in t.fks.iter().enumerate() {
                if Some(k) == owning || case.tables[fk.target].owning == Owning::Nobody {
                    continue;
                }
                if let Some(Value::Int(id)) = row.values.get(&fk.column)
                    && reached.contains(&(case.tables[fk.target].name.clone(), *id))
                {
                    out.insert((t.name.clone(), row.id, fk.column.clone()));
                }
            }
        }
    }
    out
}

/// The rows some row of the snapshot refers to.
fn referenced(case: &Case, snapshot: &Snapshot) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for ((table, _), values) in snapshot {
        for fk in &case.table(table).fks {
            if let Some(Value::Int(id)) = values.get(&fk.column) {
                out.insert((case.tables[fk.target].name.clone(), *id));
            }
        }
    }
    out
}

impl Case {
    fn table(&self, name: &str) -> &Table {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .expect("a table of the case")
    }

    fn row(&self, table: &str, id: i64) -> &Record {
        let i = self
            .tables
            .iter()
            .position(|t| t.name == table)
            .expect("a table");
        &self.rows[i][(id - 1) as usize]
    }

    /// The holds that still keep a row.
    fn active_holds<'a>(&'a self, table: &str, id: i64) -> Vec<&'a Hold> {
        let row = self.row(table, id);
        self.table(table)
            .holds
            .iter()
            .filter(|h| match &h.after {
                None => true,
                Some((column, _)) => match row.values.get(column) {
                    Some(Value::Text(text)) => instant(text) >= h.cutoff,
                    _ => true,
                },
            })
            .collect()
    }

    /// The columns of the person's row erasure must have masked, if it is still there.
    fn must_mask(&self, table: &str, id: i64) -> Vec<&Column> {
        let t = self.table(table);
        if t.erasure == TableErasure::Keep {
            return Vec::new();
        }
        let holds = self.active_holds(table, id);
        t.columns
            .iter()
            .filter(|c| c.erasure != ColumnErasure::Keep)
            .filter(|c| {
                holds.is_empty()
                    || holds
                        .iter()
                        .any(|h| h.pseudonymise.is_empty() || h.pseudonymise.contains(&c.name))
            })
            .collect()
    }
}

/// Seconds since 1970 of `YYYY-MM-DD[ HH:MM:SS]`.
fn instant(text: &str) -> i64 {
    let n: Vec<i64> = text
        .split(['-', ' ', ':'])
        .map(|p| p.parse().expect("a number"))
        .collect();
    let get = |i: usize| n.get(i).copied().unwrap_or(0);
    CivilTime {
        year: get(0) as i32,
        month: get(1) as u32,
        day: get(2) as u32,
        hour: get(3) as u32,
        minute: get(4) as u32,
        second: get(5) as u32,
    }
    .to_unix()
}

/// What erasure writes over `original`.
fn masked(c: &Column, original: &Value) -> Value {
    let neutral = match c.kind {
        Kind::Text => Value::Text("erased".into()),
        Kind::Integer => Value::Int(0),
        Kind::Date => Value::Text("1970-01-01".into()),
    };
    match c.erasure {
        ColumnErasure::Keep => original.clone(),
        ColumnErasure::Null | ColumnErasure::Hmac if c.nullable && c.kind != Kind::Text => {
            Value::Null
        }
        ColumnErasure::Null if c.nullable => Value::Null,
        ColumnErasure::Null => neutral,
        ColumnErasure::Hmac if c.kind != Kind::Text => neutral,
        ColumnErasure::Hmac => match original {
            Value::Null => Value::Null,
            v => Value::Text(pseudonym(KEY, v, None)),
        },
        ColumnErasure::Fixed => match c.kind {
            Kind::Text => Value::Text("erased".into()),
            Kind::Integer => Value::Int(-1),
            Kind::Date => Value::Text("1900-01-01".into()),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Running a case.

type Snapshot = BTreeMap<Key, BTreeMap<String, Value>>;

async fn snapshot(db: &mut Database, case: &Case) -> Snapshot {
    let Database::Sqlite(conn) = db else {
        unreachable!("the properties run on SQLite")
    };
    let mut out = Snapshot::new();
    for t in &case.tables {
        let sql = format!("SELECT * FROM \"{}\" ORDER BY \"id\"", t.name);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .expect("a snapshot");
        for row in rows {
            let mut values = BTreeMap::new();
            let mut id = 0;
            for (i, column) in row.columns().iter().enumerate() {
                use sqlx::Column as _;
                let raw = row.try_get_raw(i).expect("a value");
                let value = if raw.is_null() {
                    Value::Null
                } else {
                    match raw.type_info().name() {
                        "INTEGER" => Value::Int(row.get(i)),
                        "REAL" => Value::Float(row.get(i)),
                        "BLOB" => Value::Bytes(row.get(i)),
                        _ => Value::Text(row.get(i)),
                    }
                };
                if column.name() == "id" {
                    let Value::Int(v) = value else {
                        panic!("an integer id")
                    };
                    id = v;
                } else {
                    values.insert(column.name().to_string(), value);
                }
            }
            out.insert((t.name.clone(), id), values);
        }
    }
    out
}

async fn foreign_key_violations(db: &mut Database) -> usize {
    let Database::Sqlite(conn) = db else {
        unreachable!()
    };
    sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *conn)
        .await
        .expect("foreign key check")
        .len()
}

fn request(kind: RequestKind, target: &str) -> plan::Request {
    plan::Request {
        kind,
        identities: vec![("email".parse().expect("a kind"), vec![target.to_string()])],
        changes: Vec::new(),
        now: CivilTime::from_unix(NOW),
    }
}

struct Setup {
    db: Database,
    decl: Declaration,
    schema: plan::SchemaGraph,
}

async fn setup(case: &Case) -> Setup {
    let mut db = Database::connect(None, "sqlite::memory:")
        .await
        .expect("SQLite");
    db.batch(&case.sql).await.expect("the generated SQL runs");
    assert_eq!(
        foreign_key_violations(&mut db).await,
        0,
        "generated data is consistent"
    );
    let schema = db.introspect(None).await.expect("introspection");
    let decl = load(&SourceMap::single("pledge.toml", &case.toml))
        .unwrap_or_else(|e| panic!("the generated declaration loads: {e:?}"));
    Setup { db, decl, schema }
}

impl Setup {
    fn plan(&self, kind: RequestKind, target: &str) -> Plan {
        let dataset = &self.decl.doc().datasets[0];
        plan::plan(&self.decl, dataset, &self.schema, &request(kind, target)).expect("a plan")
    }

    async fn run(&mut self, plan: &Plan, target: &str, dry_run: bool) -> Result<Outcome, Error> {
        let dataset = &self.decl.doc().datasets[0];
        let person = plan::request_person(dataset, &self.schema, &request(plan.kind, target))
            .expect("a person");
        let options = Options {
            dry_run,
            hmac_key: KEY,
            who: Who::Person(&person),
            progress: &|_, _| {},
        };
        self.db.execute(&self.schema, plan, &options).await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn check_erasure(case: &Case) -> Result<(), TestCaseError> {
    runtime().block_on(async {
        let mut s = setup(case).await;
        let reached = reachable(case);
        let upward = upward(case, &reached);
        let before = snapshot(&mut s.db, case).await;
        let plan = s.plan(RequestKind::Erasure, &case.target);
        let plan_text = format!("{plan:#?}");

        // (5) A dry run changes nothing.
        s.run(&plan, &case.target, true).await.map_err(|e| {
            TestCaseError::fail(format!("dry run failed: {e:#}: {:?}\n{plan_text}", source(&e)))
        })?;
        prop_assert_eq!(&snapshot(&mut s.db, case).await, &before, "a dry run changed the database");

        // (1) The erasure runs, and leaves every foreign key whole.
        s.run(&plan, &case.target, false).await.map_err(|e| {
            TestCaseError::fail(format!("erasure failed: {e}: {:?}\n{plan_text}", source(&e)))
        })?;
        prop_assert_eq!(foreign_key_violations(&mut s.db).await, 0, "broken foreign keys");
        let after = snapshot(&mut s.db, case).await;
        // ... and every declared relation: the database does not check those.
        for ((table, id), values) in &after {
            for fk in case.table(table).fks.iter().filter(|fk| fk.relation) {
                if let Some(Value::Int(to)) = values.get(&fk.column) {
                    let target = &case.tables[fk.target].name;
                    prop_assert!(
                        after.contains_key(&(target.clone(), *to)),
                        "{table} {id} refers through the relation {} to {target} {to}, which is gone",
                        fk.column
                    );
                }
            }
        }

        for (key, old) in &before {
            let (table, id) = key;
            let mine = reached.contains(key);
            // Keys declared severed: cleared where they referred to the person, in others' rows
            // and in the person's own (but for the key an own row belongs through).
            let t = case.table(table);
            let through = match t.owning {
                Owning::Via { through, .. } => through,
                _ => None,
            };
            let severed: Vec<&String> = t
                .sever
                .iter()
                .filter(|&&k| {
                    let fk = &t.fks[k];
                    let refers = matches!(
                        old.get(&fk.column),
                        Some(Value::Int(to)) if reached.contains(&(case.tables[fk.target].name.clone(), *to))
                    );
                    refers && (!mine || through != Some(k))
                })
                .map(|&k| &t.fks[k].column)
                .collect();
            let mut expected = old.clone();
            for c in &severed {
                expected.insert((*c).clone(), Value::Null);
            }
            // A row the person's rows refer to and no one else does is masked like theirs.
            let to_mask = mine || upward.contains(key) && only_the_persons(case, &reached, key);
            match after.get(key) {
                // (3) Only the person's rows are deleted, never a held one or one of a table
                // erasure masks or keeps.
                None => {
                    prop_assert!(mine, "{table} {id} is not the person's, yet was deleted");
                    let t = case.table(table);
                    prop_assert!(
                        matches!(t.erasure, TableErasure::Default | TableErasure::Delete),
                        "{table} {id} was deleted though the table's strategy is {:?}",
                        t.erasure
                    );
                    prop_assert!(
                        case.active_holds(table, *id).is_empty(),
                        "{table} {id} was deleted though it is held"
                    );
                }
                // (3) The rows of others are unchanged, and so are the rows the person's rows
                // refer to that others refer to as well.
                Some(new) if !to_mask => {
                    prop_assert_eq!(
                        new, &expected,
                        "{} {} is not the person's, yet changed beyond its severed mentions {:?}",
                        table, id, severed
                    );
                }
                // (2) What remains of the person is masked, except what a hold keeps; a hold
                // keeps what it does not pseudonymise, and `keep` keeps the rows as they are.
                Some(new) => {
                    let t = case.table(table);
                    let pseudonymised = |column: &str| {
                        t.holds.iter().any(|h| {
                            h.pseudonymise.is_empty() || h.pseudonymise.iter().any(|p| p == column)
                        })
                    };
                    for (column, value) in new {
                        if severed.contains(&column) {
                            prop_assert_eq!(value, &Value::Null, "{}.{} of row {} is not severed", table, column, id);
                            continue;
                        }
                        let kept = t.erasure == TableErasure::Keep
                            || t.columns.iter().all(|c| c.name != *column)
                            || (!case.active_holds(table, *id).is_empty() && !pseudonymised(column));
                        prop_assert!(
                            !kept || value == &old[column],
                            "{table}.{column} of row {id} changed from {:?} to {value:?}, though kept",
                            old[column]
                        );
                    }
                    for c in case.must_mask(table, *id) {
                        let want = masked(c, &old[&c.name]);
                        prop_assert_eq!(
                            &new[&c.name],
                            &want,
                            "{}.{} of row {} ({:?}) holds {:?} after erasure, not its mask",
                            table,
                            c.name,
                            id,
                            c.erasure,
                            old[&c.name]
                        );
                    }
                }
            }
        }
        // (2) The address is left only where the declaration or a hold keeps it.
        for ((table, id), values) in &after {
            for (column, value) in values {
                if value != &Value::Text(case.target.clone()) {
                    continue;
                }
                let kept = reached.contains(&(table.clone(), *id))
                    && !case
                        .must_mask(table, *id)
                        .iter()
                        .any(|c| &c.name == column);
                prop_assert!(kept, "{table}.{column} of row {id} still holds the address");
            }
        }

        // What erasure may delete and nothing refers to any more is gone.
        let may_delete = deletable(case, &reached);
        let still_referenced = referenced(case, &after);
        for key in after.keys() {
            let (table, id) = key;
            let strategy = case.table(table).erasure;
            prop_assert!(
                !may_delete.contains(key)
                    || still_referenced.contains(key)
                    || !matches!(strategy, TableErasure::Default | TableErasure::Delete),
                "{table} {id} was left though erasure deletes it and no row refers to it"
            );
        }

        // (4) Erasing again changes nothing.
        let again = s.plan(RequestKind::Erasure, &case.target);
        s.run(&again, &case.target, false)
            .await
            .map_err(|e| TestCaseError::fail(format!("second erasure failed: {e}: {:?}", source(&e))))?;
        prop_assert_eq!(&snapshot(&mut s.db, case).await, &after, "a second erasure changed the database");
        Ok(())
    })
}

fn check_access(case: &Case) -> Result<(), TestCaseError> {
    runtime().block_on(async {
        let mut s = setup(case).await;
        let reached = reachable(case);
        let reached: BTreeSet<Key> = reached.union(&upward(case, &reached)).cloned().collect();
        let plan = s.plan(RequestKind::Access, &case.target);
        let outcome = s.run(&plan, &case.target, false).await;
        let outcome = match outcome {
            Err(Error::NoSuchPerson { .. }) if reached.is_empty() => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("access failed: {e}"))),
            Ok(o) => o,
        };
        let mut read: BTreeSet<Key> = BTreeSet::new();
        let mut mention_rows: BTreeSet<(String, i64, String)> = BTreeSet::new();
        for step in outcome.steps {
            let Some(data) = step.data else { continue };
            let id = data
                .columns
                .iter()
                .position(|c| c == "id")
                .expect("the id is read");
            if let Some(m) = &data.mention {
                // Never the personal columns of whoever owns the row.
                let t = case.table(&data.table);
                for c in &data.columns {
                    prop_assert!(
                        t.columns.iter().all(|p| p.name != *c),
                        "a record mentioning the person shows {}.{c}",
                        data.table
                    );
                }
                let via = m.via.join(",");
                prop_assert!(
                    data.columns.contains(&via),
                    "the mentioning key {via} is shown"
                );
                for row in &data.rows {
                    let Value::Int(v) = row[id] else {
                        panic!("an integer id")
                    };
                    mention_rows.insert((data.table.clone(), v, via.clone()));
                }
                continue;
            }
            for row in data.rows {
                let Value::Int(v) = row[id] else {
                    panic!("an integer id")
                };
                read.insert((data.table.clone(), v));
            }
        }
        let own = reachable(case);
        let want = mentions(case, &own);
        prop_assert_eq!(
            &mention_rows,
            &want,
            "the records that mention the person differ\n{:#?}",
            plan
        );
        let missing: Vec<&Key> = reached.difference(&read).collect();
        let extra: Vec<&Key> = read.difference(&reached).collect();
        prop_assert!(
            missing.is_empty() && extra.is_empty(),
            "access missed {missing:?} and returned others' rows {extra:?}\n{plan:#?}"
        );
        Ok(())
    })
}

fn source(e: &Error) -> Option<String> {
    use std::error::Error as _;
    let mut out = None;
    let mut cur = e.source();
    while let Some(s) = cur {
        out = Some(s.to_string());
        cur = s.source();
    }
    out
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn erasure_leaves_nothing_of_the_person_and_breaks_nothing(case in case()) {
        check_erasure(&case)?;
    }

    #[test]
    fn access_returns_exactly_the_person_rows(case in case()) {
        check_access(&case)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The failures the properties found, minimised and named, on SQLite and (where `scripts/test.sh`
// provides them) PostgreSQL and MariaDB.

/// A table: its columns, and its foreign keys as (columns, referenced table); a key refers to
/// `id` unless it names the referenced columns, `table (columns)`.
struct TableDef {
    name: &'static str,
    columns: &'static str,
    keys: &'static [(&'static str, &'static str)],
}

const ENGINES: [Engine; 3] = [Engine::Sqlite, Engine::Postgres, Engine::Mysql];

static DATABASES: AtomicU32 = AtomicU32::new(0);

struct Regression {
    engine: Engine,
    db: Database,
    decl: Declaration,
    schema: plan::SchemaGraph,
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let cut = base.rfind('/').expect("a server URL has a path");
    match query {
        Some(q) => format!("{}/{name}?{q}", &base[..cut]),
        None => format!("{}/{name}", &base[..cut]),
    }
}

impl Regression {
    /// A fresh database with the tables (keys to tables created later are added afterwards,
    /// except on SQLite, which takes them in advance) and rows, or `None` where the engine's
    /// test server is not provided.
    async fn new(engine: Engine, tables: &[TableDef], rows: &[&str], toml: &str) -> Option<Self> {
        let url = match engine {
            Engine::Sqlite => "sqlite::memory:".to_string(),
            Engine::Postgres | Engine::Mysql => {
                let server = match engine {
                    Engine::Postgres => pledge_testkit::require!(
                        pledge_testkit::POSTGRES_URL,
                        pledge_testkit::postgres_url()
                    )?,
                    _ => pledge_testkit::require!(
                        pledge_testkit::MYSQL_URL,
                        pledge_testkit::mysql_url()
                    )?,
                };
                let name = format!(
                    "pledge_props_{}_{}",
                    std::process::id(),
                    DATABASES.fetch_add(1, Ordering::Relaxed)
                );
                let mut admin = Database::connect(None, &server)
                    .await
                    .expect("the test server");
                admin
                    .batch(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("a fresh database");
                admin.close().await;
                with_database(&server, &name)
            }
        };
        let mut db = Database::connect(None, &url).await.expect("connect");
        let mut later = Vec::new();
        for (i, t) in tables.iter().enumerate() {
            let mut defs = vec![t.columns.to_string()];
            for (columns, target) in t.keys {
                let (table, referenced) = target.split_once(' ').unwrap_or((target, "(id)"));
                let key = format!("FOREIGN KEY ({columns}) REFERENCES {table} {referenced}");
                let created = tables[..=i].iter().any(|o| o.name == table);
                if engine == Engine::Sqlite || created {
                    defs.push(key);
                } else {
                    later.push(format!("ALTER TABLE {} ADD {key}", t.name));
                }
            }
            db.batch(&format!("CREATE TABLE {} ({})", t.name, defs.join(", ")))
                .await
                .expect("create a table");
        }
        for statement in later.iter().map(String::as_str).chain(rows.iter().copied()) {
            db.batch(statement).await.expect("set up");
        }
        let schema = db.introspect(None).await.expect("introspection");
        let decl = load(&SourceMap::single(
            "pledge.toml",
            format!("{TOML_HEAD}{toml}"),
        ))
        .unwrap_or_else(|e| panic!("the declaration loads: {e:?}"));
        Some(Regression {
            engine,
            db,
            decl,
            schema,
        })
    }

    async fn run(&mut self, kind: RequestKind, email: &str) -> Outcome {
        let dataset = &self.decl.doc().datasets[0];
        let plan =
            plan::plan(&self.decl, dataset, &self.schema, &request(kind, email)).expect("a plan");
        let person =
            plan::request_person(dataset, &self.schema, &request(kind, email)).expect("a person");
        let options = Options {
            dry_run: false,
            hmac_key: KEY,
            who: Who::Person(&person),
            progress: &|_, _| {},
        };
        match self.db.execute(&self.schema, &plan, &options).await {
            Ok(outcome) => outcome,
            Err(e) => panic!("{:?}: {e}: {:?}\n{plan:#?}", self.engine, source(&e)),
        }
    }

    /// The (table, first column) of the rows access reads.
    async fn access(&mut self, email: &str) -> BTreeSet<(String, i64)> {
        let outcome = self.run(RequestKind::Access, email).await;
        let mut read = BTreeSet::new();
        for data in outcome.steps.into_iter().filter_map(|s| s.data) {
            for row in data.rows {
                let Value::Int(v) = row[0] else {
                    panic!("an integer key")
                };
                read.insert((data.table.clone(), v));
            }
        }
        read
    }

    async fn count(&mut self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        let n = match &mut self.db {
            Database::Postgres(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await,
            Database::MySql(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await,
            Database::Sqlite(c) => sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await,
        };
        n.expect("a count")
    }

    /// The ids left in `table`.
    async fn ids(&mut self, table: &str) -> Vec<i64> {
        let mut ids = Vec::new();
        for id in 1..=9 {
            if self
                .count(&format!("SELECT COUNT(*) FROM {table} WHERE id = {id}"))
                .await
                > 0
            {
                ids.push(id);
            }
        }
        ids
    }
}

fn rows(read: &[(&str, i64)]) -> BTreeSet<(String, i64)> {
    read.iter().map(|(t, id)| (t.to_string(), *id)).collect()
}

const PERSON: TableDef = TableDef {
    name: "person",
    columns: "id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL",
    keys: &[],
};

const PERSON_TOML: &str = r#"
[[datasets.tables]]
name = "person"
subject = "people"
identity = { email = "email" }
columns = { email = { category = "contact.email", erasure = "hmac" } }
"#;

/// The planner used to find a table's rows only through tables found at a smaller depth: a
/// payment for the person's order, made without a login, refers to the person only through
/// the order, which was found at the same depth as the payments. A payment that names both a
/// person and an order could be either's: the declaration names its owner (the order), and
/// the person the payment names is a mention, severed here.
#[test]
fn rows_are_found_through_every_table_they_refer_to() {
    let tables = [
        PERSON,
        TableDef {
            name: "orders",
            columns: "id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL",
            keys: &[("person_id", "person")],
        },
        TableDef {
            name: "payment",
            columns: "id INTEGER PRIMARY KEY, person_id INTEGER, order_id INTEGER, card VARCHAR(40)",
            keys: &[("person_id", "person"), ("order_id", "orders")],
        },
    ];
    let data = [
        "INSERT INTO person (id, email) VALUES (1, 'ana@example.com'), (2, 'ben@example.com')",
        "INSERT INTO orders (id, person_id) VALUES (1, 1), (2, 2)",
        "INSERT INTO payment (id, person_id, order_id, card) VALUES (1, 1, NULL, '4111'), (2, NULL, 1, '4222'), (3, 2, 2, '4333')",
    ];
    let payment =
        "\n[[datasets.tables]]\nname = \"payment\"\ncolumns = { card = \"identity.name\" }\n";
    runtime().block_on(async {
        // Without an owner, refused: never guessed.
        let toml = format!("{PERSON_TOML}{payment}");
        let r = Regression::new(Engine::Sqlite, &tables, &data, &toml)
            .await
            .expect("SQLite");
        let dataset = &r.decl.doc().datasets[0];
        let err = plan::plan(
            &r.decl,
            dataset,
            &r.schema,
            &request(RequestKind::Erasure, "ana@example.com"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, plan::PlanError::AmbiguousOwner { table, .. } if table == "payment"),
            "{err}"
        );
        assert!(err.to_string().contains("`order_id` → orders"), "{err}");
        let toml = format!(
            "{PERSON_TOML}{payment}owner = \"order_id\"\nmentions.person_id = {{ erase = \"null\", reason = \"the payer is kept apart from the order\" }}\n"
        );
        for engine in ENGINES {
            let Some(mut r) = Regression::new(engine, &tables, &data, &toml).await else {
                continue;
            };
            let read = r.access("ana@example.com").await;
            assert_eq!(
                read,
                rows(&[("person", 1), ("orders", 1), ("payment", 2), ("payment", 1)]),
                "{engine:?}: payment 1 as a mention"
            );
            r.run(RequestKind::Erasure, "ana@example.com").await;
            assert_eq!(r.ids("payment").await, [1, 3], "{engine:?}");
            let sql = "SELECT COUNT(*) FROM payment WHERE id = 1 AND person_id IS NULL AND card = '4111'";
            assert_eq!(r.count(sql).await, 1, "{engine:?}: severed, nothing else");
            assert_eq!(r.ids("orders").await, [2], "{engine:?}");
            assert_eq!(r.ids("person").await, [2], "{engine:?}");
        }
    });
}

/// A table that refers to itself: an anonymous reply to the person's comment refers to the
/// person only through the comment, and the person's own thread is deleted from the leaves
/// up (one DELETE takes only the rows no other row refers to when it starts).
#[test]
fn self_references_are_followed_and_deleted_leaves_first() {
    let tables = [
        PERSON,
        TableDef {
            name: "comment",
            columns: "id INTEGER PRIMARY KEY, author_id INTEGER, reply_to INTEGER, body VARCHAR(100)",
            keys: &[("author_id", "person"), ("reply_to", "comment")],
        },
    ];
    let data = [
        "INSERT INTO person (id, email) VALUES (1, 'ana@example.com'), (2, 'ben@example.com')",
        "INSERT INTO comment (id, author_id, reply_to, body) VALUES (1, 2, NULL, 'ben'), (2, 1, NULL, 'ana'), (3, 1, 2, 'ana again'), (4, NULL, 3, 'anonymous'), (5, 2, 1, 'ben again')",
    ];
    let toml = format!(
        "{PERSON_TOML}\n[[datasets.tables]]\nname = \"comment\"\ncolumns = {{ body = \"identity.name\" }}\n"
    );
    runtime().block_on(async {
        for engine in ENGINES {
            let Some(mut r) = Regression::new(engine, &tables, &data, &toml).await else {
                continue;
            };
            let read = r.access("ana@example.com").await;
            assert_eq!(
                read,
                rows(&[
                    ("person", 1),
                    ("comment", 2),
                    ("comment", 3),
                    ("comment", 4)
                ]),
                "{engine:?}"
            );
            let outcome = r.run(RequestKind::Erasure, "ana@example.com").await;
            assert_eq!(r.ids("comment").await, [1, 5], "{engine:?}");
            assert_eq!(r.ids("person").await, [2], "{engine:?}");
            // Step 0 keeps (and counts) the replies of others to the person's comments (none
            // here); step 1 deletes the thread, and step 2 repeats that deletion.
            assert_eq!(
                outcome.steps[1].rows, 3,
                "{engine:?}: one count for the whole thread"
            );
        }
    });
}

/// Tables that refer to each other: a folder refers to its cover document, a document to its
/// folder. A folder without owner whose cover is the person's document is found through the
/// cycle, and so is its document; the rows are deleted as they free one another.
#[test]
fn cycles_of_tables_are_followed_and_deleted_as_they_free_one_another() {
    let tables = [
        PERSON,
        TableDef {
            name: "folder",
            columns: "id INTEGER PRIMARY KEY, owner_id INTEGER, cover_id INTEGER, title VARCHAR(100)",
            keys: &[("owner_id", "person"), ("cover_id", "document")],
        },
        TableDef {
            name: "document",
            columns: "id INTEGER PRIMARY KEY, folder_id INTEGER NOT NULL, title VARCHAR(100)",
            keys: &[("folder_id", "folder")],
        },
    ];
    let data = [
        "INSERT INTO person (id, email) VALUES (1, 'ana@example.com'), (2, 'ben@example.com')",
        "INSERT INTO folder (id, owner_id, cover_id, title) VALUES (1, 1, NULL, 'ana'), (2, NULL, NULL, 'shared'), (3, 2, NULL, 'ben')",
        "INSERT INTO document (id, folder_id, title) VALUES (1, 1, 'ana'), (2, 2, 'shared'), (3, 3, 'ben')",
        "UPDATE folder SET cover_id = 1 WHERE id = 2",
        "UPDATE folder SET cover_id = 3 WHERE id = 3",
    ];
    let toml = format!(
        "{PERSON_TOML}\n[[datasets.tables]]\nname = \"folder\"\ncolumns = {{ title = \"identity.name\" }}\n\n[[datasets.tables]]\nname = \"document\"\ncolumns = {{ title = \"identity.name\" }}\n"
    );
    runtime().block_on(async {
        for engine in ENGINES {
            let Some(mut r) = Regression::new(engine, &tables, &data, &toml).await else {
                continue;
            };
            let read = r.access("ana@example.com").await;
            assert_eq!(
                read,
                rows(&[
                    ("person", 1),
                    ("folder", 1),
                    ("folder", 2),
                    ("document", 1),
                    ("document", 2)
                ]),
                "{engine:?}"
            );
            r.run(RequestKind::Erasure, "ana@example.com").await;
            assert_eq!(r.ids("folder").await, [3], "{engine:?}");
            assert_eq!(r.ids("document").await, [3], "{engine:?}");
            assert_eq!(r.ids("person").await, [2], "{engine:?}");
        }
    });
}

/// Two holds pseudonymising different columns, one of them the address the person is found
/// by: with a step per hold, the second no longer found the row the first had pseudonymised.
#[test]
fn every_hold_pseudonymises_its_columns() {
    let tables = [TableDef {
        name: "person",
        columns: "id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL, name VARCHAR(100)",
        keys: &[],
    }];
    let data = ["INSERT INTO person (id, email, name) VALUES (1, 'ana@example.com', 'Ana')"];
    let toml = r#"
[[datasets.tables]]
name = "person"
subject = "people"
identity = { email = "email" }
columns = { email = { category = "contact.email", erasure = "hmac" }, name = { category = "identity.name", erasure = { fixed = "erased" } } }
holds = [
  { reason = "bookkeeping", law = "Bookkeeping Act", period = "P5Y", pseudonymise = ["email"] },
  { reason = "tax", law = "Tax Act", period = "P10Y", pseudonymise = ["name"] },
]
"#;
    runtime().block_on(async {
        for engine in ENGINES {
            let Some(mut r) = Regression::new(engine, &tables, &data, toml).await else {
                continue;
            };
            r.run(RequestKind::Erasure, "ana@example.com").await;
            assert_eq!(r.ids("person").await, [1], "{engine:?}: held");
            let sql = "SELECT COUNT(*) FROM person WHERE name = 'erased' AND email LIKE 'h:%'";
            assert_eq!(r.count(sql).await, 1, "{engine:?}");
        }
    });
}

/// The person's row in one table of people refers to their row found through another: it is
/// deleted first, so the row it refers to goes too, in one erasure. The same when the cycle
/// of references runs through a table whose rows erasure masks instead.
#[test]
fn rows_are_deleted_before_the_rows_they_refer_to() {
    let tables = [
        TableDef {
            name: "customer",
            columns: "id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL, subscriber_id INTEGER",
            keys: &[("subscriber_id", "subscriber")],
        },
        TableDef {
            name: "orders",
            columns: "id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL",
            keys: &[("customer_id", "customer")],
        },
        TableDef {
            name: "subscriber",
            columns: "id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL, last_order_id INTEGER",
            keys: &[("last_order_id", "orders")],
        },
    ];
    let data = [
        "INSERT INTO customer (id, email) VALUES (1, 'ana@example.com'), (2, 'ben@example.com')",
        "INSERT INTO orders (id, customer_id) VALUES (1, 1), (2, 2)",
        "INSERT INTO subscriber (id, email, last_order_id) VALUES (1, 'ana@example.com', 1)",
    ];
    for customer_erasure in ["delete", "mask"] {
        let toml = format!(
            r#"
[[datasets.tables]]
name = "customer"
subject = "people"
identity = {{ email = "email" }}
erasure = "{customer_erasure}"
columns = {{ email = {{ category = "contact.email", erasure = "hmac" }} }}

[[datasets.tables]]
name = "subscriber"
subject = "people"
identity = {{ email = "email" }}
columns = {{ email = {{ category = "contact.email", erasure = "hmac" }} }}

# The subscriber's last order refers back: whose the orders are is declared, not guessed.
[[datasets.tables]]
name = "orders"
owner = "customer_id"
"#
        );
        runtime().block_on(async {
            for engine in ENGINES {
                let Some(mut r) = Regression::new(engine, &tables, &data, &toml).await else {
                    continue;
                };
                r.run(RequestKind::Erasure, "ana@example.com").await;
                let left = if customer_erasure == "delete" {
                    vec![2]
                } else {
                    vec![1, 2]
                };
                assert_eq!(
                    r.ids("customer").await,
                    left,
                    "{engine:?}, {customer_erasure}"
                );
                assert_eq!(r.ids("orders").await, [2], "{engine:?}, {customer_erasure}");
                assert_eq!(
                    r.ids("subscriber").await,
                    [0; 0],
                    "{engine:?}, {customer_erasure}"
                );
            }
        });
    }
}

/// The same with a composite key: a document line correcting another refers to it by
/// document and line number. A correction with no invoice of its own, to the person's line,
/// is theirs; a correction on someone else's invoice is that person's, and only mentions it.
#[test]
fn cycles_are_followed_through_composite_keys() {
    let tables = [
        PERSON,
        TableDef {
            name: "invoice",
            columns: "id INTEGER PRIMARY KEY, person_id INTEGER",
            keys: &[("person_id", "person")],
        },
        TableDef {
            name: "line",
            columns: "doc INTEGER NOT NULL, n INTEGER NOT NULL, invoice_id INTEGER, corrects_doc INTEGER, corrects_n INTEGER, note VARCHAR(100), PRIMARY KEY (doc, n)",
            keys: &[
                ("invoice_id", "invoice"),
                ("corrects_doc, corrects_n", "line (doc, n)"),
            ],
        },
    ];
    let data = [
        "INSERT INTO person (id, email) VALUES (1, 'ana@example.com'), (2, 'ben@example.com')",
        "INSERT INTO invoice (id, person_id) VALUES (1, 1), (2, NULL), (3, 2)",
        "INSERT INTO line (doc, n, invoice_id, corrects_doc, corrects_n, note) VALUES (1, 1, 1, NULL, NULL, 'a'), (1, 2, 1, 1, 1, 'b'), (2, 1, NULL, 1, 2, 'c'), (3, 1, 3, NULL, NULL, 'd'), (4, 1, 3, 2, 1, 'e')",
    ];
    let toml = format!(
        "{PERSON_TOML}\n[[datasets.tables]]\nname = \"line\"\ncolumns = {{ note = \"identity.name\" }}\nmentions.corrects_doc = {{ erase = \"null\", reason = \"a correction stands on its own\" }}\n"
    );
    runtime().block_on(async {
        for engine in ENGINES {
            let Some(mut r) = Regression::new(engine, &tables, &data, &toml).await else {
                continue;
            };
            let read = r.access("ana@example.com").await;
            assert_eq!(
                read,
                rows(&[("person", 1), ("invoice", 1), ("line", 1), ("line", 2), ("line", 4)]),
                "{engine:?}: the lines of documents 1 and 2, and Ben's correction as a mention"
            );
            let sql = "SELECT COUNT(*) FROM line WHERE note IN ('a', 'b', 'c')";
            r.run(RequestKind::Erasure, "ana@example.com").await;
            assert_eq!(r.count(sql).await, 0, "{engine:?}");
            let sql = "SELECT COUNT(*) FROM line WHERE doc = 4 AND corrects_doc IS NULL AND corrects_n IS NULL AND note = 'e'";
            assert_eq!(r.count(sql).await, 1, "{engine:?}: Ben's line severed, nothing else");
            assert_eq!(r.count("SELECT COUNT(*) FROM line").await, 2, "{engine:?}");
            assert_eq!(r.ids("invoice").await, [2, 3], "{engine:?}");
            assert_eq!(r.ids("person").await, [2], "{engine:?}");
        }
    });
}

/// A row the person's row refers to (their address) that a legal hold keeps: only what the
/// hold pseudonymises is masked, as in the person's own rows; it used to be masked whole.
#[test]
fn holds_keep_what_they_do_not_pseudonymise_in_rows_the_person_refers_to() {
    let tables = [
        TableDef {
            name: "address",
            columns: "id INTEGER PRIMARY KEY, name VARCHAR(100), street VARCHAR(100)",
            keys: &[],
        },
        TableDef {
            name: "person",
            columns: "id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL, address_id INTEGER",
            keys: &[("address_id", "address")],
        },
    ];
    let data = [
        "INSERT INTO address (id, name, street) VALUES (1, 'Ana', 'Main Street 1')",
        "INSERT INTO person (id, email, address_id) VALUES (1, 'ana@example.com', 1)",
    ];
    let toml = format!(
        r#"{PERSON_TOML}
[[datasets.tables]]
name = "address"
columns = {{ name = "identity.name", street = "identity.name" }}
holds = [{{ reason = "bookkeeping", law = "Bookkeeping Act", period = "P5Y", pseudonymise = ["name"] }}]
"#
    );
    runtime().block_on(async {
        for engine in ENGINES {
            let Some(mut r) = Regression::new(engine, &tables, &data, &toml).await else {
                continue;
            };
            r.run(RequestKind::Erasure, "ana@example.com").await;
            let sql =
                "SELECT COUNT(*) FROM address WHERE name IS NULL AND street = 'Main Street 1'";
            assert_eq!(r.count(sql).await, 1, "{engine:?}");
            assert_eq!(r.ids("person").await, [0; 0], "{engine:?}");
        }
    });
}
