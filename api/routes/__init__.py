"""One router per resource (applications, tasks, notifications, resources, system)."""
