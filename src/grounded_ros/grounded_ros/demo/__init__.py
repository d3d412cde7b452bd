"""The main demo (``make demo``): the tabletop stack end to end over ROS 2.

``grounded-demo`` makes sure a trained policy and captioner exist (training and
caching them when missing), starts ``launch/demo.launch.yaml`` (simulator,
captioner, planner, policy) with the project's launcher, sends the instruction
to the policy's ``execute_task`` action, prints the plan, the captions as they
are detected and the result, and writes the episode's video and the policy's
learning curve. Modules: ``config`` (settings), ``models`` (checkpoints),
``client`` (the ROS side), ``recorder`` (video), ``plot`` (learning curve),
``cli`` (the command).
"""
