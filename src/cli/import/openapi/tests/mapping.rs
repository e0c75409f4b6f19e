//! What the converter maps: names, servers, parameters, references,
//! cycles, examples, bodies, statuses, comments, OpenAPI 3.1.

use super::*;

#[test]
fn names_are_operation_ids_else_method_and_path_and_unique() {
    let r = requests(&doc("
  /a:
    get: {operationId: listA, responses: {'200': {description: ok}}}
    post: {responses: {'201': {description: ok}}}
  /b:
    get: {operationId: listA, responses: {}}
    put: {operationId: '  ', responses: {}}
  /c:
    get: {operationId: listA}
"));
    let names: Vec<String> = r.iter().map(|r| s(r, "name")).collect();
    assert_eq!(names, ["listA", "POST /a", "listA_2", "PUT /b", "listA_3"]);
    assert_eq!(s(&r[1], "method"), "POST");
    assert_eq!(s(&r[1], "path"), "/a");
}

#[test]
fn json_and_yaml_give_the_same_scenario() {
    let yaml = doc("
  /pets/{id}:
    get: {operationId: show, parameters: [{name: id, in: path, required: true, schema: {type: integer}}], responses: {'200': {description: ok}}}
");
    let json = r#"{"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
      "servers": [{"url": "http://127.0.0.1:8080/api"}],
      "paths": {"/pets/{id}": {"get": {"operationId": "show",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "ok"}}}}},
      "components": null}"#;
    assert_eq!(scenario(&yaml), scenario(json));
    let r = one(json);
    assert_eq!(s(&r, "path"), "/pets/1");
    assert_eq!(statuses(&r), Some(vec![200]));
}

#[test]
fn base_url_from_the_first_server_with_variables_or_the_flag() {
    let d = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n\
        servers:\n- url: '{scheme}://127.0.0.1:{port}/v{major}/'\n  variables:\n    scheme: {default: http, enum: [http, https]}\n    port: {default: '9000'}\n    major: {default: '2'}\n\
        - url: http://127.0.0.2\npaths:\n  /x: {get: {}}\n";
    let t: toml::Table = toml::from_str(&scenario(d)).unwrap();
    assert_eq!(
        t["http"]["base_url"].as_str(),
        Some("http://127.0.0.1:9000/v2")
    );
    let flagged = convert(
        d,
        &Options {
            source: "t",
            base_url: Some("http://127.0.0.1:1234/"),
        },
    )
    .unwrap();
    let t: toml::Table = toml::from_str(&flagged.toml).unwrap();
    assert_eq!(
        t["http"]["base_url"].as_str(),
        Some("http://127.0.0.1:1234")
    );
    let bad = convert(
        d,
        &Options {
            source: "t",
            base_url: Some("ftp://127.0.0.1"),
        },
    )
    .unwrap_err();
    assert!(bad.to_string().contains("--base-url"), "{bad}");
}

#[test]
fn a_relative_or_missing_server_needs_base_url() {
    let relative = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\nservers: [{url: /v1}]\npaths: {/x: {get: {}}}\n";
    err_at(
        relative,
        "/servers/0/url",
        "--base-url http://127.0.0.1:8080/v1",
    );
    let none = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {/x: {get: {}}}\n";
    err_at(none, "/servers", "--base-url");
    let given = convert(
        relative,
        &Options {
            source: "t",
            base_url: Some("http://127.0.0.1:8080/v1"),
        },
    )
    .unwrap();
    compiles(&given.toml);
    let undeclared = "openapi: 3.0.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'http://{h}'}]\npaths: {/x: {get: {}}}\n";
    err_at(undeclared, "/servers/0/variables", "{h}");
}

#[test]
fn path_parameters_take_the_first_example_there_is() {
    let cases = [
        (
            "{name: id, in: path, required: true, example: 7, schema: {type: integer, example: 8}}",
            "/p/7",
        ),
        (
            "{name: id, in: path, required: true, examples: {a: {value: seven}}, schema: {type: string}}",
            "/p/seven",
        ),
        (
            "{name: id, in: path, required: true, schema: {type: integer, example: 8, default: 9}}",
            "/p/8",
        ),
        (
            "{name: id, in: path, required: true, schema: {type: integer, default: 9}}",
            "/p/9",
        ),
        (
            "{name: id, in: path, required: true, schema: {type: string, enum: [cat, dog]}}",
            "/p/cat",
        ),
        (
            "{name: id, in: path, required: true, schema: {type: integer}}",
            "/p/1",
        ),
        (
            "{name: id, in: path, required: true, schema: {type: integer, minimum: 10}}",
            "/p/10",
        ),
        (
            "{name: id, in: path, required: true, schema: {type: string}}",
            "/p/x",
        ),
        (
            "{name: id, in: path, required: true, schema: {type: string, format: uuid}}",
            "/p/00000000-0000-4000-8000-000000000000",
        ),
        (
            "{name: id, in: path, required: true, content: {application/json: {example: {a: 1}}}}",
            "/p/%7B%22a%22%3A1%7D",
        ),
        (
            "{name: id, in: path, required: true, example: 'a b/c?d'}",
            "/p/a%20b%2Fc%3Fd",
        ),
        (
            "{name: id, in: path, required: true, example: 'é{{x}}'}",
            "/p/%C3%A9%7B%7Bx%7D%7D",
        ),
        (
            "{name: id, in: path, required: true, example: [1, 2]}",
            "/p/1%2C2",
        ),
    ];
    for (param, path) in cases {
        let r = one(&doc(&format!(
            "  /p/{{id}}:\n    get: {{parameters: [{param}]}}\n"
        )));
        assert_eq!(s(&r, "path"), path, "{param}");
        assert_eq!(s(&r, "name"), "GET /p/{id}");
    }
}

#[test]
fn a_placeholder_is_said_so_in_a_comment() {
    let text = scenario(&doc(
        "  /p/{id}:\n    get: {parameters: [{name: id, in: path, required: true, schema: {type: integer}}]}\n",
    ));
    assert!(
        text.contains("# path parameter \"id\" = \"1\": a placeholder (no example)"),
        "{text}"
    );
    let given = scenario(&doc(
        "  /p/{id}:\n    get: {parameters: [{name: id, in: path, required: true, example: 3}]}\n",
    ));
    assert!(!given.contains("placeholder (no example)"), "{given}");
}

#[test]
fn required_query_header_and_cookie_parameters_are_sent_optional_ones_not() {
    let r = one(&doc("
  /search:
    parameters:
      - {name: q, in: query, required: true, schema: {type: string, default: 'cats & dogs'}}
      - {name: X-Shared, in: header, required: true, example: shared}
    get:
      parameters:
        - {name: page, in: query, schema: {type: integer}}
        - {name: tag, in: query, required: true, example: [a, b]}
        - {name: ids, in: query, required: true, explode: false, example: [1, 2]}
        - {name: X-Shared, in: header, required: true, example: mine}
        - {name: X-Request-Id, in: header, required: true, schema: {type: string, format: uuid}}
        - {name: X-Optional, in: header, example: no}
        - {name: Accept, in: header, required: true, example: text/plain}
        - {name: session, in: cookie, required: true, example: abc}
"));
    assert_eq!(
        s(&r, "path"),
        "/search?q=cats%20%26%20dogs&tag=a&tag=b&ids=1%2C2"
    );
    let h = r["headers"].as_table().unwrap();
    assert_eq!(h["x-shared"].as_str(), Some("mine"));
    assert_eq!(
        h["x-request-id"].as_str(),
        Some("00000000-0000-4000-8000-000000000000")
    );
    assert_eq!(h["cookie"].as_str(), Some("session=abc"));
    assert!(
        !h.contains_key("x-optional") && !h.contains_key("accept"),
        "{h:?}"
    );
}

#[test]
fn refs_to_parameters_bodies_schemas_and_path_items_are_followed() {
    let r = requests(&doc_with(
        "
  /pets/{petId}:
    get:
      parameters: [{$ref: '#/components/parameters/PetId'}]
      responses: {'200': {$ref: '#/components/responses/Ok'}}
    put:
      parameters: [{$ref: '#/components/parameters/PetId'}]
      requestBody: {$ref: '#/components/requestBodies/Pet'}
  /alias:
    $ref: '#/paths/~1pets~1{petId}'
",
        "
  parameters:
    PetId: {name: petId, in: path, required: true, schema: {$ref: '#/components/schemas/Id'}}
  schemas:
    Id: {type: integer, example: 42}
    Pet:
      type: object
      required: [id, name, owner]
      properties:
        id: {$ref: '#/components/schemas/Id'}
        name: {type: string, example: Rex}
        owner: {$ref: '#/components/schemas/Owner'}
        tag: {type: string}
    Owner: {type: object, required: [name], properties: {name: {type: string, example: Ann}}}
  requestBodies:
    Pet: {content: {application/json: {schema: {$ref: '#/components/schemas/Pet'}}}}
  responses:
    Ok: {description: ok}
",
    ));
    assert_eq!(r.len(), 4);
    assert_eq!(s(&r[0], "path"), "/pets/42");
    assert_eq!(
        s(&r[1], "body"),
        r#"{"id":42,"name":"Rex","owner":{"name":"Ann"}}"#
    );
    assert_eq!(
        r[1]["headers"]["content-type"].as_str(),
        Some("application/json")
    );
    // The alias is the same item under another path.
    assert_eq!(s(&r[2], "name"), "GET /alias");
    assert_eq!(s(&r[2], "path"), "/alias");
}

#[test]
fn schema_cycles_are_cut_and_said() {
    let text = scenario(&doc_with(
        "
  /tree:
    post:
      requestBody: {content: {application/json: {schema: {$ref: '#/components/schemas/Node'}}}}
",
        "
  schemas:
    Node:
      type: object
      required: [name, children, parent]
      properties:
        name: {type: string, example: root}
        children: {type: array, items: {$ref: '#/components/schemas/Node'}}
        parent: {$ref: '#/components/schemas/Node'}
",
    ));
    let t: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(
        t["request"][0]["body"].as_str(),
        Some(r##"{"name":"root","children":[],"parent":null}"##)
    );
    assert!(
        text.contains("#/components/schemas/Node contains itself"),
        "{text}"
    );
}

#[test]
fn a_ref_cycle_with_nothing_else_is_an_error_at_its_place() {
    err_at(
        &doc_with(
            "  /x:\n    get: {parameters: [{$ref: '#/components/parameters/A'}]}\n",
            "  parameters:\n    A: {$ref: '#/components/parameters/B'}\n    B: {$ref: '#/components/parameters/A'}\n",
        ),
        "/components/parameters/B/$ref",
        "leads back to itself",
    );
}

#[test]
fn a_ref_that_points_nowhere_or_outside_is_an_error_at_its_place() {
    err_at(
        &doc("  /pets:\n    get: {parameters: [{$ref: '#/components/parameters/Nope'}]}\n"),
        "/paths/~1pets/get/parameters/0/$ref",
        "points nowhere",
    );
    err_at(
        &doc(
            "  /pets:\n    post: {requestBody: {content: {application/json: {schema: {$ref: 'other.yaml#/Pet'}}}}}\n",
        ),
        "/paths/~1pets/post/requestBody/content/application~1json/schema/$ref",
        "outside this document",
    );
}

#[test]
fn bodies_come_from_the_example_then_examples_then_the_schema() {
    let body = |media: &str| {
        let r = one(&doc(&format!(
            "  /b:\n    post: {{requestBody: {{content: {{application/json: {media}}}}}}}\n"
        )));
        s(&r, "body")
    };
    assert_eq!(
        body("{example: {a: 1, z: [true]}, examples: {e: {value: 2}}, schema: {type: integer}}"),
        r#"{"a":1,"z":[true]}"#
    );
    assert_eq!(
        body("{examples: {e: {externalValue: 'x.json'}, f: {value: {b: 2}}}}"),
        r#"{"b":2}"#
    );
    assert_eq!(
        body(
            "{schema: {type: object, required: [n, when, f], properties: {n: {type: number, minimum: 2.5}, when: {type: string, format: date-time}, f: {type: boolean}, opt: {type: string}}}}"
        ),
        r#"{"n":2.5,"when":"2024-01-01T00:00:00Z","f":true}"#
    );
    assert_eq!(
        body(
            "{schema: {allOf: [{type: object, required: [a], properties: {a: {type: string, example: A}}}, {type: object, required: [b], properties: {b: {type: integer, maximum: 0}}}]}}"
        ),
        r#"{"a":"A","b":0}"#
    );
    assert_eq!(
        body(
            "{schema: {oneOf: [{type: array, items: {type: string, minLength: 3}}, {type: string}]}}"
        ),
        r#"["xxx"]"#
    );
    assert_eq!(
        body(
            "{schema: {type: object, required: [id, name], properties: {id: {type: integer, readOnly: true}, name: {type: ['string', 'null']}}}}"
        ),
        r#"{"name":"x"}"#
    );
    // A JSON body's {{ is written \u007b: the same JSON, no template.
    assert_eq!(body("{example: {t: 'a{{b}}'}}"), r#"{"t":"a{\u007bb}}"}"#);
    // ${ is an environment variable to volley: written $${, sent as ${.
    let text = scenario(&doc(
        "  /b:\n    post: {requestBody: {content: {application/json: {example: {t: '${HOME}'}}}}}\n",
    ));
    assert!(text.contains(r#"{"t":"$${HOME}"}"#), "{text}");
}

#[test]
fn other_content_types_send_an_example_string_or_nothing() {
    let r = one(&doc(
        "  /t:\n    post: {requestBody: {content: {text/plain: {example: hello}}}}\n",
    ));
    assert_eq!(s(&r, "body"), "hello");
    assert_eq!(r["headers"]["content-type"].as_str(), Some("text/plain"));
    let text = scenario(&doc(
        "  /f:\n    post: {requestBody: {content: {multipart/form-data: {schema: {type: object}}}}}\n",
    ));
    assert!(
        text.contains("# body left out: \"multipart/form-data\" has no example string"),
        "{text}"
    );
    let t: toml::Table = toml::from_str(&text).unwrap();
    assert!(t["request"][0].get("body").is_none());
    err_at(
        &doc("  /t:\n    post: {requestBody: {content: {text/plain: {example: 'a {{b}}'}}}}\n"),
        "/paths/~1t/post/requestBody/content/text~1plain",
        "template placeholder",
    );
    err_at(
        &doc(
            "  /t:\n    get: {parameters: [{name: X-T, in: header, required: true, example: '{{x}}'}]}\n",
        ),
        "/paths/~1t/get/parameters/0",
        "template placeholder",
    );
}

#[test]
fn checks_are_the_declared_2xx_and_3xx_statuses() {
    let r = requests(&doc("
  /a:
    get: {responses: {'200': {description: ok}, '404': {description: no}, default: {description: d}}}
  /b:
    get: {responses: {'2XX': {description: ok}, '201': {description: ok}}}
  /c:
    get: {responses: {'302': {description: moved}, '4XX': {description: no}}}
  /d:
    get: {responses: {default: {description: d}}}
  /e:
    get: {}
"));
    assert_eq!(statuses(&r[0]), Some(vec![200]));
    assert_eq!(statuses(&r[1]), Some((200..=299).collect()));
    assert_eq!(statuses(&r[2]), Some(vec![302]));
    assert_eq!(r[2]["follow_redirects"].as_bool(), Some(false));
    assert!(r[0].get("follow_redirects").is_none());
    assert_eq!(statuses(&r[3]), None);
    assert_eq!(statuses(&r[4]), None);
    err_at(
        &doc("  /a:\n    get: {responses: {'20X': {description: x}}}\n"),
        "/paths/~1a/get/responses/20X",
        "not an HTTP status",
    );
    err_at(
        &doc("  /a:\n    get: {responses: [200]}\n"),
        "/paths/~1a/get/responses",
        "must be a mapping",
    );
}

#[test]
fn deprecated_operations_are_written_and_said_so() {
    let text = scenario(&doc("  /old:\n    get: {deprecated: true, summary: Old}\n"));
    assert!(
        text.contains(
            "# \"GET /old\": \"Old\"\n# DEPRECATED: the document marks this operation deprecated."
        ),
        "{text}"
    );
}

#[test]
fn the_header_says_where_it_came_from() {
    let text = scenario(&doc("  /a:\n    get: {}\n"));
    assert!(
        text.starts_with("# Generated by `volley import openapi` from \"t.yaml\": \"t\" version \"1\", OpenAPI \"3.0.3\"."),
        "{text}"
    );
    assert!(text.contains("Guessed, to review"), "{text}");
}

#[test]
fn comments_never_break_the_toml() {
    let text = scenario(&doc(
        "  /a:\n    get: {summary: \"line one\\nlicense = 'x'\\r\\u007f\", operationId: \"a\\nb\"}\n",
    ));
    let t: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(t["request"][0]["name"].as_str(), Some("a\nb"));
    assert!(!t.contains_key("license"));
}

#[test]
fn openapi_3_1_documents_are_read() {
    let d = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://127.0.0.1'}]\n\
        webhooks: {}\npaths:\n  /v:\n    post:\n      requestBody: {content: {application/json: {schema: {type: object, required: [a, b], properties: {a: {type: [integer, 'null'], examples: [5]}, b: {const: k}}}}}}\n      responses: {'204': {description: none}}\n";
    let r = one(d);
    assert_eq!(s(&r, "body"), r#"{"a":5,"b":"k"}"#);
    assert_eq!(statuses(&r), Some(vec![204]));
}

#[test]
fn a_rich_document_maps_whole() {
    let r = requests(RICH);
    assert_eq!(r.len(), 3);
    assert_eq!(s(&r[0], "name"), "showPet");
    assert_eq!(s(&r[0], "path"), "/pets/5?fields=a");
    assert_eq!(r[0]["headers"]["cookie"].as_str(), Some("sid=s1"));
    assert_eq!(statuses(&r[0]).unwrap().len(), 101);
    assert_eq!(r[0]["follow_redirects"].as_bool(), Some(false));
    assert_eq!(s(&r[1], "name"), "PUT /pets/{petId}");
    assert_eq!(
        s(&r[1], "body"),
        r#"{"name":"xx","tags":["cute"],"owner":{"name":"x","friend":null,"since":"2024-01-01"}}"#
    );
    assert_eq!(s(&r[2], "body"), "hello");
    let t: toml::Table = toml::from_str(&scenario(RICH)).unwrap();
    assert_eq!(
        t["http"]["base_url"].as_str(),
        Some("http://127.0.0.1:8080/v1")
    );
}
