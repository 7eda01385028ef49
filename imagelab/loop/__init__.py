"""The generation loop: fit -> sample -> judge -> metrics -> next pool, resumable stage by stage."""
