"""Plugin layer: pytest glue (options, case-file items, fixtures, markers, report attachments)."""
