// govshare pages: progressive help only; every form works without this file.
"use strict";
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => {
  // The role switcher submits on change.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // A decision form: the reason is required when the chosen action needs one (shown before
  // submitting); the grant's terms show only for a granting action.
  for (const form of document.querySelectorAll("form[data-decide]")) {
    const reason = form.querySelector("textarea[name=reason]");
    const grant = form.querySelector("fieldset[data-grant]");
    const mark = form.querySelector("[data-reason-mark]");
    const update = () => {
      const chosen = form.querySelector("input[name=action]:checked");
      const needs = chosen ? chosen.dataset.reasonRequired === "1" : false;
      const grants = chosen ? chosen.dataset.grant === "1" : false;
      if (reason) reason.required = needs;
      if (mark) mark.hidden = !needs;
      if (grant) grant.hidden = !grants;
    };
    form.addEventListener("change", update);
    update();
  }
  // One submit per form: a second click does not send the decision twice (the key would make it
  // one anyway).
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", () => {
      for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
    });
  }
});
