// One user-assigned managed identity per Warden service (and the approver console), named after
// the topology identity. Every data-plane role in the other modules is granted to these.
param location string
param prefix string
param names array

resource identities 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = [for name in names: {
  name: 'id-${prefix}-${name}'
  location: location
}]

output ids array = [for (name, i) in names: identities[i].id]
output principalIds array = [for (name, i) in names: identities[i].properties.principalId]
output clientIds array = [for (name, i) in names: identities[i].properties.clientId]
