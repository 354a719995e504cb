"""Post-incident review drafts (issue 5): from a stored session to a blameless Markdown PIR.

data.gather      stored facts: the reporter's words, the command trail, findings, approvals
derive.derive    deterministic sections: severity, impact, timeline, metrics, response, actions
narrative        summary, five whys, lessons, action items... by the session's model or by rules
render           the Jinja2 layout (prompts/pir.md.j2 or settings.pir_template), redacted
service          regenerate / latest_or_create / pir_for_cli; drafts stores every version
"""
