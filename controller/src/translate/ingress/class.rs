//! Which Ingresses Portcullis serves: those of its IngressClasses (by `spec.ingressClassName`
//! or the legacy `kubernetes.io/ingress.class` annotation), those with no class when one of
//! its classes is the cluster's default, and the class `nginx` when asked to.

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use super::super::IngressOptions;

/// The legacy class annotation, which the API server refuses beside `spec.ingressClassName`.
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// Marks the IngressClass that Ingresses without a class belong to.
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// The class `ing` names, by the legacy annotation or `spec.ingressClassName`.
fn class_of(ing: &Ingress) -> Option<&str> {
    let annotation = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CLASS_ANNOTATION));
    annotation.map(String::as_str).or(ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref()))
}

/// Whether `ing` is served only as a guest: of class `nginx`, served because the option says
/// so while ingress-nginx owns it (and writes its status).
pub(super) fn guest(ing: &Ingress, classes: &[IngressClass], options: &IngressOptions) -> bool {
    let ours = |c: &IngressClass| {
        c.metadata.name.as_deref() == Some("nginx")
            && c.spec.as_ref().and_then(|s| s.controller.as_deref())
                == Some(options.controller.as_str())
    };
    options.serve_nginx_class && class_of(ing) == Some("nginx") && !classes.iter().any(ours)
}

/// Whether Portcullis serves `ing`.
pub(super) fn served(ing: &Ingress, classes: &[IngressClass], options: &IngressOptions) -> bool {
    let ours = |c: &&IngressClass| {
        c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(options.controller.as_str())
    };
    let is_ours = |name: &str| {
        (options.serve_nginx_class && name == "nginx")
            || classes
                .iter()
                .filter(ours)
                .any(|c| c.metadata.name.as_deref() == Some(name))
    };
    let annotation = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CLASS_ANNOTATION));
    let class = annotation.map(String::as_str).or(ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref()));
    match class {
        Some(name) => is_ours(name),
        None => classes.iter().filter(ours).any(|c| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                .is_some_and(|v| v == "true")
        }),
    }
}
