//! The map of whose rows are whose (built by the planner, [`pledge_plan::map`]) as text for
//! a terminal, as Graphviz `dot`, and as one self-contained HTML page for a privacy officer.
//!
//! The HTML page: a picture of each dataset's graph (inline SVG, no script, no external
//! asset) above the same facts as the text map, in tables.
//!
//! Layout: the people's tables on the top row, each owned table one row below the table it
//! belongs through, tables nobody owns on the bottom row; within a row, tables sit near the
//! mean position of the tables they refer to, so that lines cross little. Owning references
//! are solid green arrows, mentions dashed grey, the candidate owners of an ambiguous table red.

use crate::html::escape;
use pledge_plan::map::{DatasetMap, Outcome};
use pledge_plan::ownership::TableOwnership;
use std::collections::HashMap;
use std::fmt::Write;

const NODE_HEIGHT: f64 = 44.0;
const ROW_GAP: f64 = 90.0;
const COLUMN_GAP: f64 = 28.0;
const MARGIN: f64 = 24.0;
/// Average width of a character of the node labels, in pixels (13 px sans-serif).
const CHAR_WIDTH: f64 = 7.4;

struct Node {
    name: String,
    row: usize,
    x: f64,
    width: f64,
    class: &'static str,
    caption: String,
}

/// The rows of the layout: 0 for people's tables, one more than the parent for owned tables,
/// the last for tables nobody owns (and ambiguous ones below their candidates).
fn rows(m: &DatasetMap) -> HashMap<&str, usize> {
    let mut row: HashMap<&str, usize> = HashMap::new();
    for t in &m.tables {
        if matches!(t.ownership, TableOwnership::Subject { .. }) {
            row.insert(&t.name, 0);
        }
    }
    // Owned tables: relax until stable (owning paths are acyclic outside cycles, which the
    // bound of one pass per table cuts short).
    for _ in 0..m.tables.len() {
        let mut changed = false;
        for t in &m.tables {
            let parent = match &t.ownership {
                TableOwnership::Owned { via, .. } => Some(via.parent.as_str()),
                _ => None,
            };
            if let Some(p) = parent
                && let Some(&pr) = row.get(p)
            {
                let r = pr + 1;
                if row
                    .get(t.name.as_str())
                    .is_none_or(|&old| old < r && r <= m.tables.len())
                {
                    row.insert(&t.name, r);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let deepest = row.values().copied().max().unwrap_or(0);
    for t in &m.tables {
        if let TableOwnership::Ambiguous { choices } = &t.ownership {
            let below = choices
                .iter()
                .filter_map(|c| row.get(c.edge.parent.as_str()))
                .max()
                .map_or(deepest + 1, |r| r + 1);
            row.insert(&t.name, below);
        }
    }
    // Tables nobody owns go below, a few to a row, so that a large catalogue stays readable.
    let deepest = row.values().copied().max().unwrap_or(0);
    let mut nobody = 0;
    for t in &m.tables {
        if !row.contains_key(t.name.as_str()) {
            row.insert(&t.name, deepest + 1 + nobody / UNOWNED_PER_ROW);
            nobody += 1;
        }
    }
    row
}

/// Tables nobody owns placed side by side before the next row starts.
const UNOWNED_PER_ROW: usize = 6;

/// Whether a reference matters to a person's data: it touches a person's or an owned table.
fn concerns_people(m: &DatasetMap, table: &str, parent: &str) -> bool {
    let personal = |name: &str| {
        m.tables
            .iter()
            .any(|t| t.name == name && !matches!(t.ownership, TableOwnership::Unowned { .. }))
    };
    personal(table) || personal(parent)
}

fn layout(m: &DatasetMap) -> (Vec<Node>, f64, f64) {
    let row = rows(m);
    let rows_count = row.values().copied().max().map_or(0, |r| r + 1);
    let mut nodes: Vec<Node> = m
        .tables
        .iter()
        .map(|t| {
            let (class, caption) = match &t.ownership {
                TableOwnership::Subject { group } => {
                    ("subject", group.clone().unwrap_or_else(|| "people".into()))
                }
                TableOwnership::Owned { subject, .. } => {
                    ("owned", format!("{}'s", subject.as_deref().unwrap_or("?")))
                }
                TableOwnership::Ambiguous { .. } => ("ambiguous", "whose? ambiguous".into()),
                TableOwnership::Unowned { .. } => ("unowned", "nobody's".into()),
            };
            let chars = t.name.chars().count().max(caption.chars().count());
            Node {
                name: t.name.clone(),
                row: row[t.name.as_str()],
                x: 0.0,
                width: (chars as f64) * CHAR_WIDTH + 24.0,
                class,
                caption,
            }
        })
        .collect();
    // Where each table's references point, for the ordering within a row.
    let mut targets: HashMap<String, Vec<String>> = HashMap::new();
    for t in &m.tables {
        let mut to: Vec<String> = Vec::new();
        match &t.ownership {
            TableOwnership::Owned { via, .. } => to.push(via.parent.clone()),
            TableOwnership::Ambiguous { choices } => {
                to.extend(choices.iter().map(|c| c.edge.parent.clone()));
            }
            _ => {}
        }
        to.extend(
            m.mentions
                .iter()
                .filter(|x| x.edge.table == t.name)
                .map(|x| x.edge.parent.clone()),
        );
        targets.insert(t.name.clone(), to);
    }
    let mut width: f64 = 0.0;
    let mut centre: HashMap<String, f64> = HashMap::new();
    for r in 0..rows_count {
        let mut in_row: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].row == r).collect();
        // Barycentre of the tables already placed that this one refers to; else name order.
        let key = |i: usize| -> f64 {
            let placed: Vec<f64> = targets[&nodes[i].name]
                .iter()
                .filter_map(|t| centre.get(t))
                .copied()
                .collect();
            if placed.is_empty() {
                f64::MAX
            } else {
                placed.iter().sum::<f64>() / placed.len() as f64
            }
        };
        in_row.sort_by(|&a, &b| {
            key(a)
                .total_cmp(&key(b))
                .then_with(|| nodes[a].name.cmp(&nodes[b].name))
        });
        let mut x = MARGIN;
        for i in in_row {
            nodes[i].x = x;
            centre.insert(nodes[i].name.clone(), x + nodes[i].width / 2.0);
            x += nodes[i].width + COLUMN_GAP;
        }
        width = width.max(x - COLUMN_GAP + MARGIN);
    }
    let height = MARGIN * 2.0
        + rows_count as f64 * NODE_HEIGHT
        + (rows_count.saturating_sub(1)) as f64 * ROW_GAP;
    (nodes, width.max(200.0), height)
}

fn svg(m: &DatasetMap) -> String {
    let (nodes, width, height) = layout(m);
    let by_name: HashMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    let y = |n: &Node| MARGIN + n.row as f64 * (NODE_HEIGHT + ROW_GAP);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" role=\"img\" aria-labelledby=\"title-{id}\"><title id=\"title-{id}\">Tables of dataset {name} and whose rows they hold</title>",
        id = escape(&m.dataset),
        name = escape(&m.dataset)
    );
    out.push_str("<defs>");
    for (id, colour) in [
        ("own", "#137333"),
        ("mention", "#5f6368"),
        ("ambiguous", "#c5221f"),
        ("reference", "#9aa0a6"),
    ] {
        let _ = write!(
            out,
            "<marker id=\"arrow-{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"{colour}\"/></marker>"
        );
    }
    out.push_str("</defs>");
    // How many edges join each pair of tables so far, to bend the later ones apart.
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    // An edge from the referring table's top to the referred table's bottom (or sideways in
    // one row), as a curve.
    let mut edge = |from: &str, to: &str, class: &str, label: &str| {
        let (Some(a), Some(b)) = (by_name.get(from), by_name.get(to)) else {
            return;
        };
        let nth = seen.entry((from.to_string(), to.to_string())).or_insert(0);
        let bend = *nth as f64 * 36.0;
        *nth += 1;
        // Upwards from the top of the referring table; downwards from its bottom.
        let (x1, y1) = if b.row > a.row {
            (a.x + a.width / 2.0, y(a) + NODE_HEIGHT)
        } else {
            (a.x + a.width / 2.0, y(a))
        };
        let (x2, y2) = if b.row < a.row {
            (b.x + b.width / 2.0, y(b) + NODE_HEIGHT)
        } else if b.row == a.row && from != to {
            let side = if b.x > a.x { b.x } else { b.x + b.width };
            (side, y(b) + NODE_HEIGHT / 2.0)
        } else {
            (b.x + b.width / 2.0, y(b))
        };
        let path = if from == to {
            format!(
                "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
                a.x + a.width,
                y1 + 12.0,
                a.x + a.width + 40.0,
                y1 - 20.0,
                a.x + a.width + 40.0,
                y1 + NODE_HEIGHT + 20.0,
                a.x + a.width,
                y1 + NODE_HEIGHT - 12.0
            )
        } else {
            let mid = (y1 + y2) / 2.0;
            let (c1, c2) = (x1 + bend, x2 + bend);
            format!("M {x1:.1} {y1:.1} C {c1:.1} {mid:.1}, {c2:.1} {mid:.1}, {x2:.1} {y2:.1}")
        };
        let _ = write!(
            out,
            "<path class=\"edge {class}\" d=\"{path}\" marker-end=\"url(#arrow-{class})\"><title>{}</title></path>",
            escape(label)
        );
    };
    for t in &m.tables {
        match &t.ownership {
            TableOwnership::Owned { via, .. } => edge(
                &t.name,
                &via.parent,
                "own",
                &format!(
                    "{}.{} makes the row the owner's of {}",
                    t.name,
                    via.columns.join(", "),
                    via.parent
                ),
            ),
            TableOwnership::Ambiguous { choices } => {
                for c in choices {
                    edge(
                        &t.name,
                        &c.edge.parent,
                        "ambiguous",
                        &format!(
                            "{}.{}: a candidate owner, not declared",
                            t.name,
                            c.edge.columns.join(", ")
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    for r in m
        .references
        .iter()
        .filter(|r| concerns_people(m, &r.table, &r.parent))
    {
        edge(
            &r.table,
            &r.parent,
            "reference",
            &format!(
                "{}.{} refers to a row of {} that nobody owns",
                r.table,
                r.columns.join(", "),
                r.parent
            ),
        );
    }
    for x in &m.mentions {
        edge(
            &x.edge.table,
            &x.edge.parent,
            "mention",
            &format!(
                "{}.{} mentions a person of {}: {}",
                x.edge.table,
                x.edge.columns.join(", "),
                x.subject.as_deref().unwrap_or("?"),
                x.reason
            ),
        );
    }
    for n in &nodes {
        let top = y(n);
        let _ = write!(
            out,
            "<g class=\"node {class}\"><rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{NODE_HEIGHT}\" rx=\"8\"/><text x=\"{cx:.1}\" y=\"{t1:.1}\" class=\"name\">{name}</text><text x=\"{cx:.1}\" y=\"{t2:.1}\" class=\"caption\">{caption}</text></g>",
            class = n.class,
            x = n.x,
            w = n.width,
            cx = n.x + n.width / 2.0,
            t1 = top + 19.0,
            t2 = top + 35.0,
            name = escape(&n.name),
            caption = escape(&n.caption),
        );
    }
    out.push_str("</svg>");
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#202124}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2.5rem}h3{font-size:1.05rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}th,td{border-bottom:1px solid #dadce0;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f8f9fa}.graph{overflow-x:auto;border:1px solid #dadce0;border-radius:8px;padding:.5rem;background:#fff}
svg .node rect{stroke:#5f6368;stroke-width:1}svg .subject rect{fill:#cfe3ff}svg .owned rect{fill:#e6f4ea}svg .ambiguous rect{fill:#fde0dc;stroke:#c5221f;stroke-width:2}svg .unowned rect{fill:#f1f3f4}
svg text{text-anchor:middle;font:13px system-ui,sans-serif;fill:#202124}svg text.caption{font-size:11px;fill:#3c4043}
svg .edge{fill:none;stroke-width:1.6}svg .own{stroke:#137333;stroke-width:2.2}svg .mention{stroke:#5f6368;stroke-dasharray:5 4}svg .ambiguous{stroke:#c5221f}svg .reference{stroke:#9aa0a6;stroke-width:1;stroke-dasharray:1 3}
.legend span{display:inline-block;margin-right:1.2rem}.swatch{display:inline-block;width:.9rem;height:.9rem;border:1px solid #5f6368;border-radius:3px;vertical-align:-2px;margin-right:.3rem}
.problem{background:#fce8e6;border-left:4px solid #c5221f;padding:.5rem .8rem;margin:.5rem 0}.ok{background:#e6f4ea;border-left:4px solid #137333;padding:.5rem .8rem}
code{font-size:.92em}";

/// The whole page.
pub fn html(maps: &[DatasetMap]) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Pledge map: whose data is where</title><style>",
    );
    out.push_str(STYLE);
    out.push_str("</style></head><body><main><h1>Whose data is where</h1><p>Each table of each dataset, read from the live database: whose rows it holds, which of its references only mention a person, and what an access or an erasure request of one person does to it. Generated by <code>pledge map</code>.</p>");
    out.push_str("<p class=\"legend\"><span><i class=\"swatch\" style=\"background:#cfe3ff\"></i>people</span><span><i class=\"swatch\" style=\"background:#e6f4ea\"></i>owned by a person</span><span><i class=\"swatch\" style=\"background:#fde0dc\"></i>ambiguous: requests refuse it</span><span><i class=\"swatch\" style=\"background:#f1f3f4\"></i>nobody's</span><span>solid green: makes the row the person's</span><span>dashed grey: only mentions a person</span><span>dotted: a person's row refers to a row nobody owns (references among tables nobody owns are left out of the picture)</span></p>");
    for m in maps {
        let _ = write!(
            out,
            "<section><h2>Dataset <code>{}</code></h2>",
            escape(&m.dataset)
        );
        if m.problems.is_empty() {
            out.push_str(
                "<p class=\"ok\">No ambiguity, and every declared setting takes effect.</p>",
            );
        }
        for p in &m.problems {
            let _ = write!(
                out,
                "<div class=\"problem\"><strong>{}</strong>: {}<br><em>What to do:</em> {}</div>",
                escape(p.kind.rule()),
                escape(&p.message),
                escape(&p.help)
            );
        }
        let _ = write!(out, "<div class=\"graph\">{}</div>", svg(m));
        out.push_str("<h3>Tables</h3><table><thead><tr><th>table</th><th>whose rows</th><th>declared personal columns</th><th>partitions</th></tr></thead><tbody>");
        for t in &m.tables {
            let personal: Vec<String> = t
                .personal
                .iter()
                .map(|(c, cat)| format!("<code>{}</code> ({})", escape(c), escape(cat)))
                .collect();
            let _ = write!(
                out,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&t.name),
                if t.declared {
                    ""
                } else {
                    " <small>(not declared)</small>"
                },
                escape(&owner_words(&t.ownership).replace('`', "")),
                personal.join(", ")
            );
        }
        out.push_str("</tbody></table>");
        if !m.mentions.is_empty() {
            out.push_str("<h3>Mentions</h3><table><thead><tr><th>reference</th><th>whose record</th><th>mentions a person of</th><th>on erasure</th><th>why</th></tr></thead><tbody>");
            for x in &m.mentions {
                let _ = write!(
                    out,
                    "<tr><td><code>{}.{}</code> → <code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&x.edge.table),
                    escape(&x.edge.columns.join(", ")),
                    escape(&x.edge.parent),
                    escape(x.owner.as_deref().unwrap_or("nobody")),
                    escape(x.subject.as_deref().unwrap_or("?")),
                    escape(&pledge_lang::model::variant_name(&x.erase)),
                    escape(&x.reason)
                );
            }
            out.push_str("</tbody></table>");
        }
        for s in &m.subjects {
            let _ = write!(
                out,
                "<h3>A request of a person of <code>{}</code>{}</h3>",
                escape(&s.table),
                s.group
                    .as_deref()
                    .map(|g| format!(" ({})", escape(g)))
                    .unwrap_or_default()
            );
            for (what, outcome) in [("Access", &s.access), ("Erasure", &s.erasure)] {
                match outcome {
                    Outcome::Steps { steps } => {
                        let _ = write!(
                            out,
                            "<table><thead><tr><th colspan=\"3\">{what}</th></tr><tr><th>step</th><th>table</th><th>why</th></tr></thead><tbody>"
                        );
                        for step in steps {
                            let _ = write!(
                                out,
                                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                                escape(step.action),
                                escape(&step.table),
                                escape(&step.reason)
                            );
                        }
                        out.push_str("</tbody></table>");
                    }
                    Outcome::Refused { reason } => {
                        let _ = write!(
                            out,
                            "<div class=\"problem\"><strong>{what} refused</strong>: {}</div>",
                            escape(reason)
                        );
                    }
                }
            }
        }
        out.push_str("</section>");
    }
    out.push_str("</main></body></html>\n");
    out
}

/// Who owns a table, in words: `customer`'s, through `customer_id`.
pub fn owner_words(o: &TableOwnership) -> String {
    match o {
        TableOwnership::Subject { group } => match group {
            Some(g) => format!("people ({g})"),
            None => "people".into(),
        },
        TableOwnership::Owned {
            via,
            subject,
            declared,
            through_cycle,
        } => {
            let whose = subject.as_deref().unwrap_or("an ambiguous table");
            let how = if *declared { "declared" } else { "inferred" };
            let cycle = through_cycle
                .as_ref()
                .map(|c| format!("; rows without one belong through `{}`", c.column()))
                .unwrap_or_default();
            format!(
                "{whose}'s, through `{}` → {} ({how}){cycle}",
                via.columns.join(", "),
                via.parent
            )
        }
        TableOwnership::Ambiguous { choices } => {
            let listed: Vec<String> = choices
                .iter()
                .map(|c| format!("`{}` → {}", c.edge.columns.join(", "), c.edge.parent))
                .collect();
            format!("AMBIGUOUS: {}", listed.join(", "))
        }
        TableOwnership::Unowned { declared: true } => {
            "nobody's (declared `owner = \"none\"`)".into()
        }
        TableOwnership::Unowned { declared: false } => "nobody's".into(),
    }
}

/// The map as text for a terminal.
pub fn human(maps: &[DatasetMap]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for m in maps {
        let _ = writeln!(out, "dataset {}", m.dataset);
        let _ = writeln!(out, "\n  tables (whose rows they are)");
        let width = m.tables.iter().map(|t| t.name.len()).max().unwrap_or(0);
        for t in &m.tables {
            let mark = if t.declared { ' ' } else { '·' };
            let _ = writeln!(
                out,
                "   {mark}{:<width$}  {}",
                t.name,
                owner_words(&t.ownership)
            );
            if !t.partitions.is_empty() {
                let _ = writeln!(
                    out,
                    "    {:<width$}   partitions: {}",
                    "",
                    t.partitions.join(", ")
                );
            }
        }
        if m.tables.iter().any(|t| !t.declared) {
            let _ = writeln!(out, "    (· not declared)");
        }
        if !m.mentions.is_empty() {
            let _ = writeln!(
                out,
                "\n  mentions (references that do not make the row the person's)"
            );
            for mention in &m.mentions {
                let whose = mention.owner.as_deref().unwrap_or("nobody");
                let _ = writeln!(
                    out,
                    "    {}.{} → {} ({}'s record mentions a person of {}): erasure {}: {}",
                    mention.edge.table,
                    mention.edge.columns.join(", "),
                    mention.edge.parent,
                    whose,
                    mention.subject.as_deref().unwrap_or("an ambiguous table"),
                    pledge_lang::model::variant_name(&mention.erase),
                    mention.reason
                );
            }
        }
        for s in &m.subjects {
            let group = s
                .group
                .as_deref()
                .map(|g| format!(" ({g})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "\n  a person of {}{group}, found by {}",
                s.table, s.identity
            );
            for (what, outcome) in [("access", &s.access), ("erasure", &s.erasure)] {
                let _ = writeln!(out, "    {what}:");
                match outcome {
                    Outcome::Steps { steps } => {
                        for step in steps {
                            let _ = writeln!(
                                out,
                                "      {:<13} {:<width$}  {}",
                                step.action, step.table, step.reason
                            );
                        }
                    }
                    Outcome::Refused { reason } => {
                        let _ = writeln!(out, "      refused: {reason}");
                    }
                }
            }
        }
        if m.problems.is_empty() {
            let _ = writeln!(out, "\n  no problems found\n");
        } else {
            let _ = writeln!(out, "\n  problems ({})", m.problems.len());
            for p in &m.problems {
                let _ = writeln!(
                    out,
                    "    [{}] {}\n      help: {}",
                    p.kind.rule(),
                    p.message,
                    p.help
                );
            }
            let _ = writeln!(out);
        }
    }
    out
}

/// The map as a Graphviz graph: tables as nodes coloured by owner, owning references solid,
/// mentions dashed, ambiguous tables red.
pub fn dot(maps: &[DatasetMap]) -> String {
    use std::fmt::Write;
    let q = |s: &str| {
        let escaped = s
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        format!("\"{escaped}\"")
    };
    let mut out = String::from(
        "digraph pledge {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n",
    );
    for m in maps {
        let _ = writeln!(
            out,
            "  subgraph {} {{\n    label={};",
            q(&format!("cluster_{}", m.dataset)),
            q(&m.dataset)
        );
        for t in &m.tables {
            let id = q(&format!("{}.{}", m.dataset, t.name));
            let (fill, label) = match &t.ownership {
                TableOwnership::Subject { group } => (
                    "#cfe3ff",
                    format!(
                        "{}\n(people{})",
                        t.name,
                        group
                            .as_deref()
                            .map(|g| format!(": {g}"))
                            .unwrap_or_default()
                    ),
                ),
                TableOwnership::Owned { subject, .. } => (
                    "#e6f4ea",
                    format!("{}\n{}'s", t.name, subject.as_deref().unwrap_or("?")),
                ),
                TableOwnership::Ambiguous { .. } => ("#fde0dc", format!("{}\nAMBIGUOUS", t.name)),
                TableOwnership::Unowned { .. } => ("#f1f3f4", t.name.clone()),
            };
            let _ = writeln!(
                out,
                "    {id} [label={}, fillcolor={}];",
                q(&label),
                q(fill)
            );
        }
        for t in &m.tables {
            let from = q(&format!("{}.{}", m.dataset, t.name));
            match &t.ownership {
                TableOwnership::Owned { via, .. } => {
                    let to = q(&format!("{}.{}", m.dataset, via.parent));
                    let _ = writeln!(
                        out,
                        "    {from} -> {to} [label={}, penwidth=2];",
                        q(&via.columns.join(", "))
                    );
                }
                TableOwnership::Ambiguous { choices } => {
                    for c in choices {
                        let to = q(&format!("{}.{}", m.dataset, c.edge.parent));
                        let _ = writeln!(
                            out,
                            "    {from} -> {to} [label={}, color=\"#c5221f\"];",
                            q(&c.edge.columns.join(", "))
                        );
                    }
                }
                _ => {}
            }
        }
        for r in &m.references {
            let from = q(&format!("{}.{}", m.dataset, r.table));
            let to = q(&format!("{}.{}", m.dataset, r.parent));
            let _ = writeln!(
                out,
                "    {from} -> {to} [label={}, style=dotted, color=\"#9aa0a6\"];",
                q(&r.columns.join(", "))
            );
        }
        for mention in &m.mentions {
            let from = q(&format!("{}.{}", m.dataset, mention.edge.table));
            let to = q(&format!("{}.{}", m.dataset, mention.edge.parent));
            let label = format!(
                "{} (mention: {})",
                mention.edge.columns.join(", "),
                pledge_lang::model::variant_name(&mention.erase)
            );
            let _ = writeln!(
                out,
                "    {from} -> {to} [label={}, style=dashed, color=\"#5f6368\"];",
                q(&label)
            );
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}
