//! What the converter refuses: documents that are not OpenAPI 3, enormous
//! or deeply nested ones, alias bombs, schemas that fan out, and any part
//! of a document replaced by an odd value: refused with its place, or
//! written, never a panic.

use super::*;

#[test]
fn not_openapi_documents_are_refused_saying_why() {
    err_at(
        "just some words\n",
        "",
        "not an OpenAPI document: the top level is a string",
    );
    err_at("[1, 2]", "", "the top level is a list");
    err_at("title: t\npaths: {}\n", "", "no openapi field");
    err_at(
        "swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n",
        "/swagger",
        "OpenAPI 3 only",
    );
    err_at("openapi: 2.5.0\npaths: {}\n", "/openapi", "OpenAPI 3 only");
    err_at(
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://h'}]\npaths: {}\n",
        "/paths",
        "no operations",
    );
    err_at(
        &doc("  pets:\n    get: {}\n"),
        "/paths/pets",
        "must start with /",
    );
    err_at(
        &doc("  /a:\n    get: {parameters: [{name: a, in: body}]}\n"),
        "/paths/~1a/get/parameters/0/in",
        "path, query, header or cookie",
    );
    // YAML's flow style starts as JSON does, and is read as YAML.
    let flow = "{openapi: 3.0.0, info: {title: t, version: '1'}, servers: [{url: 'http://h'}], paths: {/a: {get: {}}}}";
    assert_eq!(requests(flow).len(), 1);
    let syntax = err("{\"openapi\": \"3.0.0\",");
    assert!(
        matches!(syntax, ImportError::Syntax { format: "JSON", .. }),
        "{syntax}"
    );
    let syntax = err("openapi: 3.0.0\n  bad: [\n");
    assert!(
        matches!(syntax, ImportError::Syntax { format: "YAML", .. }),
        "{syntax}"
    );
}

#[test]
fn an_enormous_document_is_refused_before_it_is_parsed() {
    let big = " ".repeat(super::super::MAX_BYTES + 1);
    assert!(matches!(err(&big), ImportError::TooLarge { .. }));
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = err(&deep);
    assert!(e.to_string().contains("nested deeper than 100"), "{e}");
    let deep_yaml = format!("openapi: {}1{}", "[".repeat(5_000), "]".repeat(5_000));
    let e = err(&deep_yaml);
    assert!(
        matches!(e, ImportError::Syntax { format: "YAML", .. }),
        "{e}"
    );
    // Each level repeats the one before ten times: 10^9 values.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let e = err(&bomb);
    assert!(e.to_string().contains("YAML aliases"), "{e}");
    // One large anchor repeated: few alias jumps, many values.
    let wide = format!(
        "a: &a [{}]\nb: [{}]\n",
        vec!["x"; 1000].join(", "),
        vec!["*a"; 100].join(", ")
    );
    let e = super::super::document::parse_within(&wide, 50_000, 1 << 20).unwrap_err();
    assert!(
        e.to_string()
            .contains("more than 50000 values (YAML aliases expanded)"),
        "{e}"
    );
    let e = super::super::document::parse_within(&wide, 1 << 20, 50_000).unwrap_err();
    assert!(
        e.to_string().contains("more than 50000 bytes of strings"),
        "{e}"
    );
    assert!(super::super::document::parse_within(&wide, 200_000, 1 << 20).is_ok());
}

#[test]
fn a_schema_that_fans_out_is_refused_at_its_place() {
    // Eight levels of ten required properties: 10^8 values.
    let mut schemas = String::from("  schemas:\n    L0: {type: integer}\n");
    for i in 1..9 {
        let props: Vec<String> = (0..10)
            .map(|k| format!("p{k}: {{$ref: '#/components/schemas/L{}'}}", i - 1))
            .collect();
        let names: Vec<String> = (0..10).map(|k| format!("p{k}")).collect();
        schemas.push_str(&format!(
            "    L{i}: {{type: object, required: [{}], properties: {{{}}}}}\n",
            names.join(", "),
            props.join(", ")
        ));
    }
    let e = err(&doc_with(
        "  /x:\n    post: {requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/L8'}}}}}\n",
        &schemas,
    ));
    assert!(e.to_string().contains("more than 100000 values"), "{e}");
    assert!(
        e.pointer().unwrap().starts_with("/components/schemas/L"),
        "{e}"
    );
}

/// Every node of [`RICH`] and of the Petstore-like document, replaced in
/// turn by each of a few odd values: the importer either refuses the
/// document with a pointer or writes a scenario that compiles; it never
/// panics.
#[test]
fn any_part_replaced_by_an_odd_value_is_refused_or_written_never_a_panic() {
    use super::super::document::{Node, parse};
    use indexmap::IndexMap;

    fn pointers(node: &Node, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(at.clone());
        let children: Vec<(String, &Node)> = match node {
            Node::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, n)| (i.to_string(), n))
                .collect(),
            Node::Object(m) => m.iter().map(|(k, n)| (k.clone(), n)).collect(),
            _ => Vec::new(),
        };
        for (k, child) in children {
            at.push(k);
            pointers(child, at, out);
            at.pop();
        }
    }

    fn at_mut<'a>(node: &'a mut Node, path: &[String]) -> &'a mut Node {
        path.iter().fold(node, |n, k| match n {
            Node::Array(a) => &mut a[k.parse::<usize>().unwrap()],
            Node::Object(m) => m.get_mut(k).unwrap(),
            _ => unreachable!(),
        })
    }

    let refer = |to: &str| {
        Node::Object(IndexMap::from([(
            "$ref".to_owned(),
            Node::String(to.into()),
        )]))
    };
    let odd = [
        Node::Null,
        Node::Bool(true),
        Node::Number((-1).into()),
        Node::String("{{x}} ${X} /a b".into()),
        Node::Array(Vec::new()),
        Node::Object(IndexMap::new()),
        refer("#"),
        refer("#/components"),
        refer("#/paths/~1pets~1{petId}"),
        refer("#/components/schemas/Person"),
    ];
    let mut tried = 0;
    for text in [
        RICH,
        &doc(
            "  /a/{id}:\n    get: {operationId: a, parameters: [{name: id, in: path, required: true, schema: {type: integer}}], responses: {'200': {description: ok}}}\n",
        ),
    ] {
        let base = parse(text).unwrap();
        let mut all = Vec::new();
        pointers(&base, &mut Vec::new(), &mut all);
        for path in &all {
            for value in &odd {
                let mut d = base.clone();
                *at_mut(&mut d, path) = value.clone();
                let text = d.to_json();
                match convert(&text, &options()) {
                    Ok(i) => compiles(&i.toml),
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 1000, "{tried}");
}
