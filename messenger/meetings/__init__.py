"""Online meetings: scheduling with time zones, RSVP, reminders pushed to devices, iCalendar, the call."""
