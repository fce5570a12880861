"""Lead capture into NeoCRM: the connection settings, accepting a lead only on consent, delivering
it exactly once, taking it back, and the disclosure records each step writes.
"""
