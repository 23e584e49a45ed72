//! Walks a script's directives against a [`Target`].

use crate::report::{DirectiveKind, DirectiveResult, ScriptReport, Status};
use crate::values::{self, trap_message_matches, Verdict};
use crate::{Failure, Handle, Target, Val};
use std::collections::HashMap;
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::Id;
use wast::{QuoteWat, Wast, WastDirective, WastExecute, WastInvoke, Wat};

/// Runs every directive of the script `text` (named `name` in the report)
/// on `target`, which should be fresh.
pub fn run_script(name: &str, text: &str, target: &mut dyn Target) -> ScriptReport {
    let mut report = ScriptReport {
        name: name.to_string(),
        directives: Vec::new(),
    };
    let line_of = |span: wast::token::Span| span.linecol_in(text).0 + 1;
    let parse_error = |e: wast::Error| DirectiveResult {
        line: line_of(e.span()),
        kind: DirectiveKind::Other,
        status: Status::Fail(format!("script does not parse: {}", e.message())),
    };
    // The testsuite spells some names with characters the lexer would
    // otherwise reject as confusable (names.wast).
    let mut lexer = Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buffer = match ParseBuffer::new_with_lexer(lexer) {
        Ok(buffer) => buffer,
        Err(e) => {
            report.directives.push(parse_error(e));
            return report;
        }
    };
    let script = match parser::parse::<Wast<'_>>(&buffer) {
        Ok(script) => script,
        Err(e) => {
            report.directives.push(parse_error(e));
            return report;
        }
    };
    let mut runner = Runner {
        target,
        current: None,
        named: HashMap::new(),
        definitions: HashMap::new(),
        last_definition: None,
        unsupported_registrations: HashMap::new(),
    };
    for directive in script.directives {
        let line = line_of(directive.span());
        let (kind, status) = runner.run(directive, line);
        report.directives.push(DirectiveResult { line, kind, status });
    }
    report
}

/// Why a module the script relies on is not there; directives that use it
/// inherit the verdict.
#[derive(Debug, Clone)]
enum Missing {
    /// The target does not support it: skip.
    Unsupported(String),
    /// It failed where the script expects success: fail.
    Failed(String),
}

impl Missing {
    fn status(&self) -> Status {
        match self {
            Missing::Unsupported(why) => Status::Skip(why.clone()),
            Missing::Failed(why) => Status::Fail(why.clone()),
        }
    }

    /// Says which module failed; an unsupported reason stays as the target
    /// gave it, so equal reasons group together in reports.
    fn at(self, line: usize) -> Missing {
        match self {
            Missing::Failed(why) => Missing::Failed(format!("module at line {line}: {why}")),
            unsupported => unsupported,
        }
    }
}

type Instance = Result<Handle, Missing>;
type Definition = Result<Vec<u8>, Missing>;

/// The outcome of an action: what the target returned, or a verdict that
/// settles the directive before the target is asked (a missing module, an
/// argument the runner cannot pass).
type Outcome = Result<Result<Vec<Val>, Failure>, Status>;

struct Runner<'t> {
    target: &'t mut dyn Target,
    /// The module actions without a name refer to: the latest `module`.
    current: Option<Instance>,
    named: HashMap<String, Instance>,
    definitions: HashMap<String, Definition>,
    last_definition: Option<Definition>,
    /// `register` names whose module the target does not support, and why:
    /// modules importing from them are skipped, not failed as unlinkable.
    unsupported_registrations: HashMap<String, String>,
}

impl Runner<'_> {
    fn run(&mut self, directive: WastDirective<'_>, line: usize) -> (DirectiveKind, Status) {
        use DirectiveKind as K;
        match directive {
            WastDirective::Module(module) => (K::Module, self.module(module, line)),
            WastDirective::ModuleDefinition(module) => (K::Module, self.definition(module, line)),
            WastDirective::ModuleInstance { instance, module, .. } => {
                (K::Module, self.module_instance(instance, module, line))
            }
            WastDirective::Register { name, module, .. } => (K::Register, self.register(name, module)),
            WastDirective::Invoke(invoke) => {
                let status = match self.invoke(&invoke) {
                    Err(status) => status,
                    Ok(Ok(_)) => Status::Pass,
                    Ok(Err(Failure::Unsupported(why))) => Status::Skip(why),
                    Ok(Err(failure)) => Status::Fail(failure.to_string()),
                };
                (K::Invoke, status)
            }
            WastDirective::AssertReturn { exec, results, .. } => {
                let kind = match exec {
                    WastExecute::Get { .. } => K::Get,
                    _ => K::AssertReturn,
                };
                let status = match self.execute(exec) {
                    Err(status) => status,
                    Ok(Ok(actual)) => match values::check_results(&actual, &results) {
                        Verdict::Match => Status::Pass,
                        Verdict::Mismatch(why) => Status::Fail(why),
                        Verdict::Unchecked(what) => Status::Skip(format!("the runner cannot check {what}")),
                    },
                    Ok(Err(Failure::Unsupported(why))) => Status::Skip(why),
                    Ok(Err(failure)) => Status::Fail(format!("{failure}, expected a return")),
                };
                (kind, status)
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let kind = match exec {
                    WastExecute::Wat(_) => K::AssertUninstantiable,
                    _ => K::AssertTrap,
                };
                (kind, expect_trap(self.execute(exec), message))
            }
            WastDirective::AssertExhaustion { call, message, .. } => {
                (K::AssertExhaustion, expect_trap(self.invoke(&call), message))
            }
            WastDirective::AssertInvalid { module, message, .. } => (
                K::AssertInvalid,
                self.expect_rejected(K::AssertInvalid, module, message),
            ),
            WastDirective::AssertMalformed { module, message, .. } => (
                K::AssertMalformed,
                self.expect_rejected(K::AssertMalformed, module, message),
            ),
            WastDirective::AssertUnlinkable { module, message, .. } => {
                (K::AssertUnlinkable, self.expect_unlinkable(module, message))
            }
            WastDirective::AssertException { .. } => (K::Other, skip("assert_exception (exception handling)")),
            WastDirective::AssertSuspension { .. } => (K::Other, skip("assert_suspension (stack switching)")),
            WastDirective::Thread(_) => (K::Other, skip("thread (threads proposal)")),
            WastDirective::Wait { .. } => (K::Other, skip("wait (threads proposal)")),
            WastDirective::AssertInvalidCustom { .. } | WastDirective::AssertMalformedCustom { .. } => {
                (K::Other, skip("custom section assertion (annotations proposal)"))
            }
        }
    }

    /// `module`: instantiate, and make it current (and named, with `$id`).
    fn module(&mut self, mut module: QuoteWat<'_>, line: usize) -> Status {
        let name = module.name().map(|id| id.name().to_string());
        let instance = match encode(&mut module) {
            Ok(wasm) => match self.instantiate(&wasm) {
                Ok(handle) => Ok(handle),
                Err(Failure::Unsupported(why)) => Err(Missing::Unsupported(why)),
                Err(failure) => Err(Missing::Failed(format!("module at line {line}: {failure}"))),
            },
            Err(missing) => Err(missing.at(line)),
        };
        let status = match &instance {
            Ok(_) => Status::Pass,
            Err(missing) => missing.status(),
        };
        if let Some(name) = name {
            self.named.insert(name, instance.clone());
        }
        self.current = Some(instance);
        status
    }

    /// `module definition`: compile only; `module instance` instantiates it.
    fn definition(&mut self, mut module: QuoteWat<'_>, line: usize) -> Status {
        let name = module.name().map(|id| id.name().to_string());
        let definition = match encode(&mut module) {
            Ok(wasm) => match self.target.compile(&wasm) {
                Ok(()) => Ok(wasm),
                Err(Failure::Unsupported(why)) => Err(Missing::Unsupported(why)),
                Err(failure) => Err(Missing::Failed(format!("module definition at line {line}: {failure}"))),
            },
            Err(missing) => Err(missing.at(line)),
        };
        let status = match &definition {
            Ok(_) => Status::Pass,
            Err(missing) => missing.status(),
        };
        if let Some(name) = name {
            self.definitions.insert(name, definition.clone());
        }
        self.last_definition = Some(definition);
        status
    }

    fn module_instance(&mut self, instance: Option<Id<'_>>, module: Option<Id<'_>>, line: usize) -> Status {
        let definition = match module {
            Some(id) => self.definitions.get(id.name()),
            None => self.last_definition.as_ref(),
        }
        .cloned();
        let instance_of = match definition {
            None => Err(Missing::Failed(format!(
                "module instance at line {line}: no such module definition"
            ))),
            Some(Err(missing)) => Err(missing),
            Some(Ok(wasm)) => match self.instantiate(&wasm) {
                Ok(handle) => Ok(handle),
                Err(Failure::Unsupported(why)) => Err(Missing::Unsupported(why)),
                Err(failure) => Err(Missing::Failed(format!("module instance at line {line}: {failure}"))),
            },
        };
        let status = match &instance_of {
            Ok(_) => Status::Pass,
            Err(missing) => missing.status(),
        };
        if let Some(id) = instance {
            self.named.insert(id.name().to_string(), instance_of.clone());
        }
        self.current = Some(instance_of);
        status
    }

    fn register(&mut self, name: &str, module: Option<Id<'_>>) -> Status {
        let status = match self.instance(module) {
            Ok(handle) => match self.target.register(handle, name) {
                Ok(()) => Status::Pass,
                Err(Failure::Unsupported(why)) => Status::Skip(why),
                Err(failure) => Status::Fail(failure.to_string()),
            },
            Err(status) => status,
        };
        if let Status::Skip(why) = &status {
            self.unsupported_registrations.insert(name.to_string(), why.clone());
        }
        status
    }

    /// Instantiates `wasm`, unless it imports from a registered module the
    /// target does not support.
    fn instantiate(&mut self, wasm: &[u8]) -> Result<Handle, Failure> {
        if !self.unsupported_registrations.is_empty() {
            for module in import_modules(wasm) {
                if let Some(why) = self.unsupported_registrations.get(&module) {
                    return Err(Failure::Unsupported(why.clone()));
                }
            }
        }
        self.target.instantiate(wasm)
    }

    /// The instance an action names, or the verdict for an action on a
    /// module that is not there.
    fn instance(&self, id: Option<Id<'_>>) -> Result<Handle, Status> {
        let instance = match id {
            None => self
                .current
                .as_ref()
                .ok_or_else(|| fail("no module instantiated yet"))?,
            Some(id) => self
                .named
                .get(id.name())
                .ok_or_else(|| fail(&format!("no module named ${}", id.name())))?,
        };
        instance.clone().map_err(|missing| missing.status())
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Outcome {
        let handle = self.instance(invoke.module)?;
        let args = invoke
            .args
            .iter()
            .map(values::arg)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|what| Status::Skip(format!("the runner cannot pass {what}")))?;
        Ok(self.target.call(handle, invoke.name, &args))
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Outcome {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Get { module, global, .. } => {
                let handle = self.instance(module)?;
                Ok(self.target.get(handle, global).map(|v| vec![v]))
            }
            // A module as an action: instantiated, not kept.
            WastExecute::Wat(mut wat) => {
                let wasm = encode_wat(&mut wat).map_err(|missing| missing.status())?;
                Ok(self.instantiate(&wasm).map(|_| Vec::new()))
            }
        }
    }

    /// `assert_invalid`, `assert_malformed`: the module must not compile.
    /// Text the `wast` crate cannot turn into a binary is rejected before
    /// the target sees it, which counts: the script asks for rejection.
    fn expect_rejected(&mut self, kind: DirectiveKind, mut module: QuoteWat<'_>, message: &str) -> Status {
        let wasm = match encode(&mut module) {
            Ok(wasm) => wasm,
            Err(Missing::Failed(_)) => return Status::Pass,
            Err(missing) => return missing.status(),
        };
        match self.target.compile(&wasm) {
            Err(Failure::Compile(_)) => Status::Pass,
            Err(Failure::Unsupported(why)) => Status::Skip(why),
            Err(failure) => Status::Fail(format!("{failure}, expected a compile error \"{message}\"")),
            Ok(()) => match lifted_by(kind, message) {
                Some(proposal) => Status::Skip(format!(
                    "the {proposal} proposal kwasm enables makes this valid (\"{message}\" no longer applies)"
                )),
                None => Status::Fail(format!("module compiled, expected a compile error \"{message}\"")),
            },
        }
    }

    /// `assert_unlinkable`: the module compiles but must fail to link.
    fn expect_unlinkable(&mut self, mut module: Wat<'_>, message: &str) -> Status {
        let wasm = match encode_wat(&mut module) {
            Ok(wasm) => wasm,
            Err(missing) => return missing.status(),
        };
        match self.instantiate(&wasm) {
            Err(Failure::Link(_)) => Status::Pass,
            Err(Failure::Unsupported(why)) => Status::Skip(why),
            Err(failure) => Status::Fail(format!("{failure}, expected a link error \"{message}\"")),
            Ok(_) => Status::Fail(format!("module instantiated, expected a link error \"{message}\"")),
        }
    }
}

/// Core 2.0 rejections that a proposal kwasm always enables lifts (core
/// 3.0, which includes the proposal, drops these assertions): a second
/// memory, and the reserved byte after memory instructions, which becomes a
/// memory index (so a long zero LEB is a valid index 0). A target that
/// accepts such a module is skipped, not failed; one that rejects it passes.
const LIFTED: &[(DirectiveKind, &str, &str)] = &[
    (DirectiveKind::AssertInvalid, "multiple memories", "multi-memory"),
    (DirectiveKind::AssertMalformed, "zero byte expected", "multi-memory"),
];

fn lifted_by(kind: DirectiveKind, message: &str) -> Option<&'static str> {
    LIFTED
        .iter()
        .find(|(k, m, _)| *k == kind && *m == message)
        .map(|(_, _, proposal)| *proposal)
}

/// `assert_trap`, `assert_exhaustion`: a trap saying `message`.
fn expect_trap(outcome: Outcome, message: &str) -> Status {
    match outcome {
        Err(status) => status,
        Ok(Err(Failure::Trap(actual))) if trap_message_matches(message, &actual) => Status::Pass,
        Ok(Err(Failure::Trap(actual))) => Status::Fail(format!("trapped with \"{actual}\", expected \"{message}\"")),
        Ok(Err(Failure::Unsupported(why))) => Status::Skip(why),
        Ok(Err(failure)) => Status::Fail(format!("{failure}, expected a trap \"{message}\"")),
        Ok(Ok(results)) if results.is_empty() => Status::Fail(format!("completed, expected a trap \"{message}\"")),
        Ok(Ok(results)) => Status::Fail(format!(
            "returned [{}], expected a trap \"{message}\"",
            results.iter().map(Val::to_string).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The binary of a script module; components are unsupported, text the
/// `wast` crate cannot encode has failed.
fn encode(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, Missing> {
    match module {
        QuoteWat::Wat(wat) => encode_wat(wat),
        QuoteWat::QuoteComponent(..) => Err(Missing::Unsupported(COMPONENTS.to_string())),
        QuoteWat::QuoteModule(..) => module
            .encode()
            .map_err(|e| Missing::Failed(format!("text does not encode: {}", e.message()))),
    }
}

fn encode_wat(wat: &mut Wat<'_>) -> Result<Vec<u8>, Missing> {
    match wat {
        Wat::Component(_) => Err(Missing::Unsupported(COMPONENTS.to_string())),
        Wat::Module(_) => wat
            .encode()
            .map_err(|e| Missing::Failed(format!("text does not encode: {}", e.message()))),
    }
}

/// The module names a binary imports from; none if it does not decode
/// (the target will say why).
fn import_modules(wasm: &[u8]) -> Vec<String> {
    use wasmparser::{Imports, Parser, Payload};
    let mut modules = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ImportSection(imports)) => {
                for group in imports.into_iter().map_while(Result::ok) {
                    modules.push(match group {
                        Imports::Single(_, import) => import.module,
                        Imports::Compact1 { module, .. } | Imports::Compact2 { module, .. } => module,
                    });
                }
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    modules.into_iter().map(str::to_string).collect()
}

const COMPONENTS: &str = "component model (not a core wasm module)";

fn fail(why: &str) -> Status {
    Status::Fail(why.to_string())
}

fn skip(why: &str) -> Status {
    Status::Skip(why.to_string())
}
