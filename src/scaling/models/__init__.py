"""GNN potentials: energy from a graph, forces and stress by autograd, sized to a target parameter count."""
