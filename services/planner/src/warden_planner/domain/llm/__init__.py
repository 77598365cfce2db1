"""The LLM planner: a bounded ReAct loop over read-only Observer tools, ending in a vetted proposal."""
